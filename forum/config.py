"""Default settings. No secrets here: the secret key is generated into the instance folder."""

SQLALCHEMY_DATABASE_URI = None  # filled in by create_app: sqlite:///<instance>/forum.db
SQLALCHEMY_ENGINE_OPTIONS: dict = {}
MAX_CONTENT_LENGTH = 256 * 1024  # request bodies; a friendly 413 past this
WTF_CSRF_TIME_LIMIT = None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_HTTPONLY = True
REMEMBER_COOKIE_SAMESITE = "Lax"
# Always send cookies with Secure (FORUM_SESSION_COOKIE_SECURE=true). Without it they are
# still marked Secure on any HTTPS request (forum/security.py).
SESSION_COOKIE_SECURE = False
REMEMBER_COOKIE_SECURE = False
# Rate limits (forum/ratelimits.py). Unset, counts live in <instance>/ratelimits.db, shared
# by every worker of this machine; redis://host:6379 shares them between machines.
RATELIMIT_ENABLED = True
RATELIMIT_STORAGE_URI = None
RATE_LIMITS: dict = {}  # e.g. {"login": "5 per minute"}; categories in forum/ratelimits.py

TITLE_MAX = 200
BODY_MAX = 20_000
PER_PAGE = 20
API_MAX_PER_PAGE = 100

LOAD_DEMO_ON_FIRST_START = True
SCHEMA_AUTO_UPGRADE = True  # every process upgrades to the newest migration when it starts
PROXY_COUNT = 0  # reverse proxies in front trusted for X-Forwarded-* (nginx: 1)
SEARCH_INDEX_DIR = None  # filled in by create_app: <instance>/search-index
SEARCH_SYNC = True  # apply recorded search changes after each commit
SEARCH_APPLY_BATCH = 500  # recorded changes per index commit (a backlog shows as it goes)
SEARCH_RECONNECT_MAX = 2  # seconds between retries while the database cannot be reached
SEARCH_PACKS = True  # read long posting lists from the memory-mapped packs a rebuild writes
SEARCH_PACK_RELEASE = True  # after a search, drop the pack pages it read from the resident set
SEARCH_TOPK = True  # score only the matches that can reach the page (False: score them all)
SEARCH_SNAPSHOT = None  # a peer's snapshot (.tar) to start from instead of rebuilding (deploy.md)
# Semantic second opinion (forum/search/semantic): off, or no model, means lexical only.
SEARCH_SEMANTIC = True
SEARCH_SEMANTIC_MODEL = None  # path of an ONNX model; None: the pinned package's file
SEARCH_SEMANTIC_MODEL_SHA256 = None  # checksum required of SEARCH_SEMANTIC_MODEL
SEARCH_SEMANTIC_THREADS = 1  # onnxruntime threads per process
SEARCH_SEMANTIC_RRF_K = 60
SEARCH_SEMANTIC_MIN_SIMILARITY = 0.2  # cosine below which a thread is no neighbour
# Embed the query before the lexical search (False) or in a worker thread while it runs
# (True): the thread saves ~0.6 ms of wall time a query on an idle machine but costs ~2 ms
# more CPU (hand-offs, both cores busy) and waits for a core on a loaded one
# (docs/search.md, "fourth round").
SEARCH_SEMANTIC_OVERLAP = False
# Queries embed through semantic/query_graph.py's graph (int8 weights kept int8; checked
# against the file's own at load): about half the CPU of the model file's graph.
SEARCH_SEMANTIC_QUERY_GRAPH = True

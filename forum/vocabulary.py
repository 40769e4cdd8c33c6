"""The forum's controlled vocabulary: conditions, side effects and medications.

Each term has a slug (used in URLs, tags and the API), a display name, a short
description, and the other words people use for it: synonyms, brand names,
abbreviations, lay phrases and common misspellings. Tagging, import mapping and
search all read this module, so adding a synonym here is one line of data and
every part of the forum picks it up.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

KINDS = ("condition", "side_effect", "medication")


@dataclass(frozen=True)
class Term:
    kind: str
    slug: str
    name: str
    description: str
    synonyms: tuple[str, ...] = ()
    misspellings: tuple[str, ...] = ()
    # Words that, on their own in a post, are strong evidence the post is about
    # this term (used by search expansion; not for tagging).
    related: tuple[str, ...] = field(default=())

    @property
    def all_names(self) -> tuple[str, ...]:
        return (self.name, self.slug.replace("-", " "), *self.synonyms, *self.misspellings)


def _c(slug, name, description, synonyms=(), misspellings=(), related=()):
    return Term(
        "condition", slug, name, description, tuple(synonyms), tuple(misspellings), tuple(related)
    )


def _s(slug, name, description, synonyms=(), misspellings=(), related=()):
    return Term(
        "side_effect", slug, name, description, tuple(synonyms), tuple(misspellings), tuple(related)
    )


def _m(slug, name, description, synonyms=(), misspellings=(), related=()):
    return Term(
        "medication", slug, name, description, tuple(synonyms), tuple(misspellings), tuple(related)
    )


CONDITIONS: tuple[Term, ...] = (
    _c(
        "lupus",
        "Lupus (SLE)",
        "An autoimmune disease that can affect skin, joints, kidneys and blood. Aza is often "
        "used to spare steroids or after kidney involvement settles.",
        ["lupus", "sle", "systemic lupus erythematosus", "lupus nephritis", "discoid lupus"],
        ["lupis", "lupas", "loopus"],
    ),
    _c(
        "sjogrens",
        "Sjögren's",
        "An autoimmune condition best known for dry eyes and mouth, sometimes with joint, "
        "nerve or organ involvement.",
        [
            "sjogren's",
            "sjogrens",
            "sjogren's syndrome",
            "sjögren's syndrome",
            "sjogren",
            "sjögren",
            "sicca syndrome",
        ],
        ["sjorgens", "sjogrens syndrome", "shogrens", "sjorgren's"],
    ),
    _c(
        "crohns",
        "Crohn's disease",
        "A form of inflammatory bowel disease that can affect any part of the gut.",
        ["crohn's", "crohns", "crohn's disease", "crohn", "ibd", "inflammatory bowel disease"],
        ["chrons", "chrohns", "crohnes", "krohns", "chron's"],
    ),
    _c(
        "ulcerative-colitis",
        "Ulcerative colitis",
        "Inflammatory bowel disease of the large bowel (colon and rectum).",
        ["ulcerative colitis", "uc", "colitis", "proctitis", "pancolitis"],
        ["ulcerative colitus", "ulcerative collitis", "colitus"],
    ),
    _c(
        "rheumatoid-arthritis",
        "Rheumatoid arthritis",
        "An inflammatory arthritis that attacks the lining of joints, usually hands and feet.",
        ["rheumatoid arthritis", "ra", "rheumatoid", "inflammatory arthritis"],
        ["rheumatiod arthritis", "rhumatoid arthritis", "rheumatoid arthritus"],
    ),
    _c(
        "psoriatic-arthritis",
        "Psoriatic arthritis",
        "Joint inflammation that comes with, or before, the skin condition psoriasis.",
        ["psoriatic arthritis", "psa", "psoriatic", "psoriasis"],
        ["psoratic arthritis", "soriatic arthritis", "psoriatic arthritus"],
    ),
    _c(
        "multiple-sclerosis",
        "Multiple sclerosis",
        "A condition in which the immune system damages the coating of nerves in the brain "
        "and spinal cord.",
        ["multiple sclerosis", "ms", "relapsing remitting ms", "rrms"],
        ["multiple sclerosus", "multiple scelrosis", "mulitple sclerosis"],
    ),
    _c(
        "autoimmune-hepatitis",
        "Autoimmune hepatitis",
        "Inflammation of the liver caused by the immune system; aza is a common long-term "
        "maintenance drug.",
        ["autoimmune hepatitis", "aih", "auto immune hepatitis", "autoimmune liver disease"],
        ["autoimune hepatitis", "autoimmune hepititis", "auto-imune hepatitis"],
    ),
    _c(
        "kidney-transplant",
        "Kidney transplant",
        "Living with a transplanted kidney, where aza may be part of anti-rejection treatment.",
        ["kidney transplant", "renal transplant", "kidney tx", "transplant kidney", "kidney graft"],
        ["kidny transplant", "kideny transplant"],
    ),
    _c(
        "liver-transplant",
        "Liver transplant",
        "Living with a transplanted liver and the medicines that protect it.",
        ["liver transplant", "liver tx", "transplant liver", "liver graft"],
        ["livre transplant", "liver transplat"],
    ),
    _c(
        "myasthenia-gravis",
        "Myasthenia gravis",
        "An autoimmune condition that causes muscle weakness which worsens with use.",
        ["myasthenia gravis", "mg", "myasthenia", "ocular myasthenia"],
        ["myasthenia gravus", "myastenia gravis", "mysthenia gravis"],
    ),
    _c(
        "eczema",
        "Eczema / atopic dermatitis",
        "Long-term itchy, inflamed skin; aza is sometimes used for severe eczema.",
        ["eczema", "atopic dermatitis", "atopic eczema", "dermatitis"],
        ["exzema", "eczma", "ecsema", "exema"],
    ),
    _c(
        "vasculitis",
        "Vasculitis",
        "Inflammation of blood vessels, including GPA, EGPA and microscopic polyangiitis.",
        [
            "vasculitis",
            "anca vasculitis",
            "gpa",
            "granulomatosis with polyangiitis",
            "wegener's",
            "egpa",
            "polyangiitis",
            "behcet's",
            "behcets",
        ],
        ["vasculitus", "vascilitis", "vasculites"],
    ),
    _c(
        "sarcoidosis",
        "Sarcoidosis",
        "Clusters of inflammatory cells (granulomas) in the lungs, skin or other organs.",
        ["sarcoidosis", "sarcoid", "pulmonary sarcoidosis"],
        ["sarcoidsis", "sarcodosis", "sarcoidoisis"],
    ),
    _c(
        "pemphigus",
        "Pemphigus / pemphigoid",
        "Autoimmune blistering conditions of the skin and mouth.",
        ["pemphigus", "pemphigoid", "bullous pemphigoid", "pemphigus vulgaris"],
        ["pemfigus", "pemphigous", "pemphigiod"],
    ),
    _c(
        "uveitis",
        "Uveitis",
        "Inflammation inside the eye; aza can help keep it quiet and spare steroid drops.",
        ["uveitis", "iritis", "scleritis", "eye inflammation"],
        ["uvietis", "uveitus", "uveites"],
    ),
    _c(
        "other",
        "Other condition",
        "Any other reason for taking azathioprine.",
        ["other", "other condition"],
    ),
)

SIDE_EFFECTS: tuple[Term, ...] = (
    _s(
        "nausea",
        "Nausea and vomiting",
        "Feeling sick or being sick, often worst in the first weeks or after a dose.",
        [
            "nausea",
            "vomiting",
            "feel sick",
            "feeling sick",
            "felt sick",
            "queasy",
            "being sick",
            "throwing up",
            "threw up",
            "sick to my stomach",
            "nauseous",
            "nauseated",
            "puking",
            "upset stomach",
            "retching",
        ],
        ["nausia", "nausea", "nasea", "nausha", "naseua", "vomitting", "nausious", "nauseus"],
    ),
    _s(
        "fatigue",
        "Fatigue",
        "Tiredness that sleep does not fix.",
        [
            "fatigue",
            "tired",
            "tiredness",
            "exhausted",
            "exhaustion",
            "wiped out",
            "no energy",
            "lethargy",
            "lethargic",
            "drained",
            "knackered",
            "worn out",
            "shattered",
            "fatigued",
            "tired all the time",
            "always tired",
            "constantly tired",
            "low energy",
            "zero energy",
            "energy levels",
            "sluggish",
            "weary",
            "zonked",
            "running on empty",
            "dead on my feet",
        ],
        ["fatige", "fatique", "fatgue", "exausted", "exhuasted", "tiredniss", "lethargie"],
    ),
    _s(
        "hair-loss",
        "Hair loss",
        "Hair thinning or shedding, usually mild and often temporary.",
        [
            "hair loss",
            "hair thinning",
            "thinning hair",
            "hair falling out",
            "hair coming out",
            "losing hair",
            "losing my hair",
            "alopecia",
            "shedding",
            "bald patches",
            "hair fall",
        ],
        ["alopesha", "alopicia", "hairloss"],
    ),
    _s(
        "rash",
        "Rash",
        "Skin reactions such as spots, hives, itch or redness.",
        [
            "rash",
            "rashes",
            "hives",
            "urticaria",
            "itchy skin",
            "itching",
            "itch",
            "spots",
            "red bumps",
            "skin reaction",
            "welts",
        ],
        ["rach", "rashs", "hieves"],
    ),
    _s(
        "mouth-ulcers",
        "Mouth ulcers",
        "Sore patches inside the mouth or on the tongue.",
        [
            "mouth ulcers",
            "mouth sores",
            "canker sores",
            "ulcers in mouth",
            "sore mouth",
            "stomatitis",
            "aphthous ulcers",
        ],
        ["mouth ulsers", "mouth ulcars"],
    ),
    _s(
        "low-white-count",
        "Low white count",
        "Fewer white blood cells than normal (leukopenia, neutropenia, lymphopenia), found "
        "on routine blood tests.",
        [
            "low white count",
            "low white cell count",
            "low white blood cells",
            "low wbc",
            "wbc low",
            "white count dropped",
            "white cells dropped",
            "leukopenia",
            "leucopenia",
            "neutropenia",
            "low neutrophils",
            "low neuts",
            "neuts",
            "lymphopenia",
            "low lymphocytes",
            "white cells low",
            "bone marrow suppression",
            "myelosuppression",
        ],
        ["leukopnia", "leukopinia", "neutropinia", "nutropenia", "leucopinia", "neutrapenia"],
    ),
    _s(
        "low-platelets",
        "Low platelets",
        "A low platelet count (thrombocytopenia), which can mean easier bruising.",
        [
            "low platelets",
            "platelets low",
            "low plt",
            "thrombocytopenia",
            "platelet count dropped",
            "platelets dropped",
        ],
        ["thrombocytopinia", "thrombocitopenia", "low platelettes"],
    ),
    _s(
        "raised-liver-enzymes",
        "Raised liver enzymes",
        "Liver blood tests (ALT, AST, ALP, GGT) higher than normal.",
        [
            "raised liver enzymes",
            "liver enzymes",
            "high liver enzymes",
            "elevated liver enzymes",
            "liver function tests",
            "lfts",
            "lft",
            "alt",
            "ast",
            "alp",
            "ggt",
            "deranged lfts",
            "abnormal lfts",
            "liver tests",
            "liver bloods",
            "transaminases",
            "hepatotoxicity",
            "liver numbers",
        ],
        ["liver enzimes", "liver enzymnes", "transaminitis"],
    ),
    _s(
        "pancreatitis",
        "Pancreatitis",
        "Inflammation of the pancreas causing severe upper stomach pain; rare but serious.",
        ["pancreatitis", "inflamed pancreas", "pancreas", "amylase", "lipase"],
        ["pancreatitus", "pancriatitis", "pancreatits"],
    ),
    _s(
        "infections",
        "Infections",
        "Catching more colds, chest, urine or skin infections, or shingles, while immunity "
        "is lowered.",
        [
            "infection",
            "infections",
            "bug",
            "chest infection",
            "uti",
            "urine infection",
            "water infection",
            "cold",
            "colds",
            "flu",
            "shingles",
            "cold sores",
            "sinusitis",
            "tummy bug",
            "thrush",
            "cellulitis",
            "pneumonia",
            "viral",
            "infected",
            "keep getting ill",
            "catching everything",
            "picking up bugs",
            "always ill",
            "constantly ill",
        ],
        ["infecton", "infektion", "shingels", "infecion", "infekshun"],
    ),
    _s(
        "headache",
        "Headache",
        "Headaches or migraines after starting or changing dose.",
        [
            "headache",
            "headaches",
            "migraine",
            "migraines",
            "head pain",
            "head ache",
            "pounding head",
        ],
        ["hedache", "headach", "migrane"],
    ),
    _s(
        "dizziness",
        "Dizziness",
        "Feeling light-headed, woozy or off balance.",
        [
            "dizziness",
            "dizzy",
            "light headed",
            "lightheaded",
            "woozy",
            "vertigo",
            "off balance",
            "room spinning",
        ],
        ["dizzyness", "dizzines", "vertigoe"],
    ),
    _s(
        "flu-like",
        "Flu-like reaction",
        "Fever, aches and shivers soon after starting, which can be a hypersensitivity "
        "reaction and needs the care team.",
        [
            "flu-like",
            "flu like",
            "flu-like symptoms",
            "flu like symptoms",
            "feverish",
            "shivery",
            "chills",
            "aches and shivers",
            "hypersensitivity",
            "hypersensitivity reaction",
            "drug reaction",
            "fever",
        ],
        ["flu lik", "flulike"],
    ),
    _s(
        "skin-cancer",
        "Skin cancer and sun sensitivity",
        "Burning more easily in the sun, and the long-term raised risk of skin cancers that "
        "makes sun protection and skin checks important.",
        [
            "skin cancer",
            "sun sensitivity",
            "sunburn",
            "sun burn",
            "photosensitivity",
            "sunscreen",
            "suncream",
            "sun cream",
            "spf",
            "moles",
            "mole",
            "basal cell",
            "squamous cell",
            "melanoma",
            "bcc",
            "scc",
            "skin check",
            "dermatology check",
        ],
        ["sunscren", "melonoma", "photosensitivty"],
    ),
    _s(
        "diarrhoea",
        "Diarrhoea",
        "Loose or frequent stools.",
        [
            "diarrhoea",
            "diarrhea",
            "loose stools",
            "runs",
            "the runs",
            "upset tummy",
            "loose bowels",
            "bowels loose",
            "urgency",
        ],
        ["diarhea", "diarrea", "diahrrea", "diarrhoea", "diarhoea", "diorreah", "diarreah"],
    ),
    _s(
        "loss-of-appetite",
        "Loss of appetite",
        "Not feeling like eating, or food tasting off.",
        [
            "loss of appetite",
            "no appetite",
            "appetite",
            "off my food",
            "not hungry",
            "weight loss",
            "off food",
            "can't eat",
        ],
        ["apetite", "appitite", "loss of apetite"],
    ),
    _s(
        "joint-muscle-aches",
        "Joint and muscle aches",
        "Aching joints or muscles, sometimes hard to tell apart from the condition itself.",
        [
            "joint pain",
            "joint aches",
            "muscle aches",
            "muscle pain",
            "achy",
            "aches",
            "sore joints",
            "aching joints",
            "myalgia",
            "arthralgia",
            "body aches",
            "stiffness",
        ],
        ["joint pian", "mussle aches", "mialgia"],
    ),
    _s(
        "mood-changes",
        "Mood changes",
        "Low mood, anxiety, irritability or feeling not yourself.",
        [
            "mood changes",
            "mood",
            "low mood",
            "depression",
            "depressed",
            "anxiety",
            "anxious",
            "irritable",
            "mood swings",
            "tearful",
            "brain fog",
        ],
        ["anxeity", "depresion", "moodswings"],
    ),
    _s(
        "night-sweats",
        "Night sweats",
        "Waking up drenched in sweat.",
        [
            "night sweats",
            "sweating at night",
            "drenched",
            "waking up soaked",
            "sweats",
            "night sweat",
        ],
        ["nightsweats", "nite sweats"],
    ),
)

MEDICATIONS: tuple[Term, ...] = (
    _m(
        "azathioprine",
        "Azathioprine",
        "An immunosuppressant that damps down the immune system; it usually takes weeks to "
        "months to work and needs regular blood tests.",
        [
            "azathioprine",
            "imuran",
            "azasan",
            "aza",
            "azath",
            "azathioprin",
            "imurel",
            "azamun",
            "azapress",
        ],
        [
            "azathiprine",
            "azathioprene",
            "azathioprin",
            "azathiaprine",
            "azathropine",
            "azothioprine",
            "azathioprime",
            "azathoprine",
            "azathiopurine",
            "immuran",
            "imuren",
            "azithioprine",
            "azathioprine",
            "azathriopine",
            "azathiophrine",
            "azathioprim",
            "azathiopine",
            "azathioprinr",
            "azatioprine",
            "azathioprone",
            "imuram",
        ],
    ),
    _m(
        "mycophenolate",
        "Mycophenolate",
        "Another immunosuppressant, often the next option when aza does not suit.",
        [
            "mycophenolate",
            "mycophenolate mofetil",
            "mycophenolic acid",
            "cellcept",
            "myfortic",
            "mmf",
            "myco",
            "mycophenolate sodium",
        ],
        [
            "micophenolate",
            "mycophenylate",
            "mycofenolate",
            "mycophenolat",
            "mycophenalate",
            "cellsept",
            "cell cept",
            "celcept",
            "myophenolate",
            "mycophenolite",
            "mychophenolate",
            "mycophenylate mofetil",
            "myfortick",
        ],
    ),
    _m(
        "mercaptopurine",
        "Mercaptopurine",
        "A close relative of azathioprine (aza is turned into it in the body); sometimes "
        "better tolerated.",
        [
            "mercaptopurine",
            "6-mp",
            "6mp",
            "6 mp",
            "purixan",
            "puri-nethol",
            "purinethol",
            "mercaptopurin",
        ],
        ["mercaptopurene", "mercaptoprine", "mercaptapurine", "mercapturine"],
    ),
    _m(
        "methotrexate",
        "Methotrexate",
        "A weekly immunosuppressant widely used in arthritis and other conditions.",
        ["methotrexate", "mtx", "metoject", "otrexup", "rasuvo", "trexall"],
        [
            "methotrexat",
            "methatrexate",
            "methotrexete",
            "metotrexate",
            "methotrexsate",
            "methotrexade",
        ],
    ),
    _m(
        "hydroxychloroquine",
        "Hydroxychloroquine",
        "An anti-malarial used for lupus and arthritis, often alongside aza.",
        [
            "hydroxychloroquine",
            "plaquenil",
            "hcq",
            "quensyl",
            "hydroxy",
            "hydroxychloroquine sulfate",
        ],
        [
            "hydroxycloroquine",
            "hydroxychlorquine",
            "hydroxychloroquin",
            "hydroxichloroquine",
            "hydroxchloroquine",
            "plaquinil",
            "placquenil",
            "plaquenill",
        ],
    ),
    _m(
        "prednisolone",
        "Prednisolone / prednisone",
        "Steroid tablets; aza is often started so the steroid dose can come down.",
        [
            "prednisolone",
            "prednisone",
            "pred",
            "steroids",
            "steroid",
            "medrol",
            "methylprednisolone",
            "deltasone",
            "budesonide",
            "entocort",
        ],
        [
            "prednisalone",
            "predisolone",
            "prednisolon",
            "predinsone",
            "prednizone",
            "prednislone",
            "prednisilone",
            "predisone",
        ],
    ),
    _m(
        "allopurinol",
        "Allopurinol",
        "A gout medicine that interacts strongly with aza: the aza dose must be cut sharply "
        "if both are used.",
        ["allopurinol", "zyloprim", "zyloric"],
        ["allopurinal", "allopurinole", "alopurinol", "allopurinaol"],
    ),
    _m(
        "tacrolimus",
        "Tacrolimus",
        "An anti-rejection drug used after transplants.",
        ["tacrolimus", "tac", "prograf", "advagraf", "envarsus", "adoport"],
        ["tacrolimis", "tacrolimous", "tacrolimos", "tacrolimas", "tacrolimius", "prograff"],
    ),
    _m(
        "ciclosporin",
        "Ciclosporin",
        "An anti-rejection and immune-suppressing drug (cyclosporine in the US).",
        ["ciclosporin", "cyclosporine", "cyclosporin", "neoral", "sandimmun", "sandimmune"],
        [
            "ciclosporine",
            "cyclosporene",
            "cyclosporeen",
            "cyclosporin a",
            "cyclosporne",
            "ciclosporn",
        ],
    ),
    _m(
        "infliximab",
        "Infliximab",
        "An anti-TNF biologic given by infusion, sometimes combined with aza.",
        ["infliximab", "remicade", "inflectra", "remsima", "flixabi", "ifx"],
        [
            "infliximob",
            "inflixamab",
            "infliximib",
            "inflixumab",
            "infliximab",
            "remicaid",
            "remicad",
        ],
    ),
    _m(
        "adalimumab",
        "Adalimumab",
        "An anti-TNF biologic injection (Humira and its biosimilars).",
        ["adalimumab", "humira", "amgevita", "hyrimoz", "imraldi", "idacio", "ada"],
        ["adalimumob", "adalimuab", "humera", "adalimamab", "adalumimab", "humria", "humeria"],
    ),
    _m(
        "other-biologic",
        "Other biologic",
        "Other biologic or targeted drugs such as vedolizumab, ustekinumab, rituximab, "
        "tocilizumab or JAK inhibitors.",
        [
            "biologic",
            "biologics",
            "vedolizumab",
            "entyvio",
            "ustekinumab",
            "stelara",
            "rituximab",
            "rituxan",
            "mabthera",
            "tocilizumab",
            "actemra",
            "roactemra",
            "belimumab",
            "benlysta",
            "etanercept",
            "enbrel",
            "tofacitinib",
            "xeljanz",
            "upadacitinib",
            "rinvoq",
            "ocrelizumab",
            "ocrevus",
            "golimumab",
            "simponi",
            "certolizumab",
            "cimzia",
            "secukinumab",
            "cosentyx",
            "dupilumab",
            "dupixent",
        ],
        ["vedolizimab", "ustekinamab", "rituximob"],
    ),
    _m(
        "mesalazine",
        "Mesalazine",
        "A 5-ASA anti-inflammatory for ulcerative colitis.",
        [
            "mesalazine",
            "mesalamine",
            "5-asa",
            "5asa",
            "pentasa",
            "asacol",
            "octasa",
            "mezavant",
            "salofalk",
            "sulfasalazine",
            "sulphasalazine",
        ],
        ["mesalasine", "mezalazine", "mesalazene", "mesalizine", "mesalamin", "pentassa"],
    ),
    _m(
        "pyridostigmine",
        "Pyridostigmine",
        "A symptom-relieving tablet for myasthenia gravis.",
        ["pyridostigmine", "mestinon", "pyrido"],
        ["pyridostygmine", "pyridistigmine", "pyridostigimine", "mestinone"],
    ),
    _m(
        "antibiotics",
        "Antibiotics",
        "Antibiotics such as amoxicillin, nitrofurantoin, trimethoprim or co-trimoxazole.",
        [
            "antibiotic",
            "antibiotics",
            "amoxicillin",
            "amoxil",
            "nitrofurantoin",
            "macrobid",
            "trimethoprim",
            "co-trimoxazole",
            "cotrimoxazole",
            "septrin",
            "bactrim",
            "doxycycline",
            "clarithromycin",
            "flucloxacillin",
            "cefalexin",
        ],
        [
            "amoxicilin",
            "amoxycillin",
            "amoxicillan",
            "nitrofuratoin",
            "nitrofurantion",
            "trimethaprim",
            "antibiotcs",
            "anitbiotics",
        ],
    ),
    _m(
        "antivirals",
        "Antivirals",
        "Antiviral tablets such as aciclovir or valaciclovir for shingles and cold sores.",
        [
            "antiviral",
            "antivirals",
            "aciclovir",
            "acyclovir",
            "valaciclovir",
            "valacyclovir",
            "valtrex",
            "zovirax",
        ],
        ["acyclovire", "aciclovire", "acyclovier", "valaciclovire", "valacylovir"],
    ),
    _m(
        "febuxostat",
        "Febuxostat",
        "A gout medicine that, like allopurinol, should not be combined with aza without "
        "specialist advice.",
        ["febuxostat", "adenuric", "uloric"],
        ["febuxastat"],
    ),
    _m(
        "other-medication",
        "Other medication",
        "Any other medicine taken alongside azathioprine.",
        ["other medication", "other medicine"],
    ),
)

ALL_TERMS: tuple[Term, ...] = CONDITIONS + SIDE_EFFECTS + MEDICATIONS

_BY_KIND = {
    "condition": CONDITIONS,
    "side_effect": SIDE_EFFECTS,
    "medication": MEDICATIONS,
}


def normalise(text: str) -> str:
    """Lower-case, strip accents and collapse punctuation so "Sjögren's" == "sjogrens"."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().replace("'", "").replace("\u2019", "")
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return text.strip()


def _build_lookup() -> dict[str, dict[str, str]]:
    lookup: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    for term in ALL_TERMS:
        for name in term.all_names:
            lookup[term.kind].setdefault(normalise(name), term.slug)
        lookup[term.kind][normalise(term.slug)] = term.slug
    return lookup


_LOOKUP = _build_lookup()
_BY_SLUG = {(t.kind, t.slug): t for t in ALL_TERMS}


def terms(kind: str) -> tuple[Term, ...]:
    """All terms of one kind, in display order. Raises KeyError for an unknown kind."""
    return _BY_KIND[kind]


def get(kind: str, slug: str) -> Term | None:
    """The term with this slug, or None."""
    return _BY_SLUG.get((kind, slug))


def resolve(kind: str, name: str) -> str | None:
    """Map a name, slug, synonym, brand or misspelling to a slug; None when unknown."""
    return _LOOKUP[kind].get(normalise(name or ""))


def choices(kind: str) -> list[tuple[str, str]]:
    """(slug, display name) pairs for form select fields."""
    return [(t.slug, t.name) for t in _BY_KIND[kind]]


def name_of(kind: str, slug: str) -> str:
    term = get(kind, slug)
    return term.name if term else slug

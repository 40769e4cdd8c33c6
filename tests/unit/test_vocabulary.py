from forum import vocabulary


def test_brand_generic_and_misspelling_map_to_one_slug():
    for name in ("Imuran", "aza", "AZA", "azathiprine", "Azathioprine"):
        assert vocabulary.resolve("medication", name) == "azathioprine"
    assert vocabulary.resolve("medication", "CellCept") == "mycophenolate"
    assert vocabulary.resolve("medication", "6-MP") == "mercaptopurine"


def test_conditions_accept_names_slugs_and_synonyms():
    assert vocabulary.resolve("condition", "SLE") == "lupus"
    assert vocabulary.resolve("condition", "Sjögren's syndrome") == "sjogrens"
    assert vocabulary.resolve("condition", "Sjogren's syndrome") == "sjogrens"
    assert vocabulary.resolve("condition", "kidney-transplant") == "kidney-transplant"
    assert vocabulary.resolve("condition", "not a condition") is None


def test_every_term_has_description_and_unique_slug():
    seen = set()
    for term in vocabulary.ALL_TERMS:
        assert term.description and term.name
        assert (term.kind, term.slug) not in seen
        seen.add((term.kind, term.slug))


def test_search_eval_names_are_all_known():
    names = {
        "condition": [
            "Lupus",
            "Sjogren's syndrome",
            "Crohn's disease",
            "Ulcerative colitis",
            "Rheumatoid arthritis",
            "Multiple sclerosis",
            "Autoimmune hepatitis",
            "Kidney transplant",
            "Liver transplant",
            "Myasthenia gravis",
            "Eczema",
            "Vasculitis",
        ],
        "side_effect": [
            "diarrhoea",
            "fatigue",
            "headache",
            "infections",
            "joint pain",
            "low white blood cells",
            "night sweats",
            "rash",
            "vomiting",
        ],
        "medication": [
            "azathioprine",
            "Imuran",
            "aciclovir",
            "amoxicillin",
            "ciclosporin",
            "co-trimoxazole",
            "hydroxychloroquine",
            "mesalazine",
            "nitrofurantoin",
            "prednisolone",
            "pyridostigmine",
            "tacrolimus",
            "trimethoprim",
        ],
    }
    for kind, values in names.items():
        for value in values:
            assert vocabulary.resolve(kind, value), (kind, value)

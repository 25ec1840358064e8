"""Crime-type vocabulary: aliases, normalisation, user mappings."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from geodemand.errors import InvalidParameterError
from geodemand.ingest.vocabulary import crime_types, normalise_crime_type, police_generated_types


def _aliases() -> pd.DataFrame:
    with resources.files("geodemand").joinpath("resources", "crime_type_aliases.csv").open() as fh:
        return pd.read_csv(fh)


def test_every_alias_maps_to_a_canonical_type_and_has_a_source():
    aliases = _aliases()
    canonical = set(crime_types()["crime_type"])
    assert set(aliases["crime_type"]) <= canonical
    assert aliases["source"].notna().all() and aliases["alias"].is_unique


def test_police_uk_names_and_api_slugs():
    names = [
        "Burglary",
        "Violence and sexual offences",
        "violent-crime",
        "Anti-social behaviour",
        "Other crime",
        "public-disorder-weapons",
        "personal robbery",
    ]
    canon, known = normalise_crime_type(names)
    assert canon.tolist() == [
        "burglary",
        "violence-and-sexual-offences",
        "violence-and-sexual-offences",
        "anti-social-behaviour",
        "other-crime",
        "public-disorder-and-weapons",
        "robbery",
    ]
    assert known.all()


def test_lookup_ignores_case_space_and_punctuation_but_not_words():
    canon, known = normalise_crime_type(["  BURGLARY ", "criminal damage & arson", " Burglar"])
    assert canon.tolist() == ["burglary", "criminal-damage-arson", "Burglar"]  # unknown: stripped
    assert known.tolist() == [True, True, False]


def test_user_mapping_wins_and_is_checked():
    canon, known = normalise_crime_type(
        ["Burglary", "theft of cycle"], {"theft of cycle": "bicycle-theft"}
    )
    assert canon.tolist() == ["burglary", "bicycle-theft"] and known.all()
    with pytest.raises(InvalidParameterError, match="not a canonical type"):
        normalise_crime_type(["x"], {"x": "bicycles"})


def test_police_generated_types():
    assert police_generated_types() == {"drugs", "possession-of-weapons"}

"""Harm weights: the shipped CCHI table, its re-derivation, schemes, forces, bad files."""

from __future__ import annotations

import pandas as pd
import pytest

from geodemand.demand.harm import (
    ASB_FLOOR_DAYS,
    cchi_by_category,
    cchi_subgroups,
    derive_category_weights,
    force_of,
    harm_table,
    harm_weights,
)
from geodemand.errors import InputFormatError, InvalidParameterError
from geodemand.ingest.vocabulary import crime_types


def test_shipped_weights_equal_the_published_table_to_a_hundredth_of_a_day():
    published = cchi_by_category().set_index("police_uk_category")
    table = harm_table("cchi").weight_of()
    for category, value in published["national"].items():
        assert table[category] == pytest.approx(value, abs=0.01)
    for force in ("west-midlands", "leicestershire", "greater-manchester"):
        weights = harm_table("cchi", force=force).weight_of()
        column = published[force.replace("-", "_")]
        for category, value in column.items():
            assert weights[category] == pytest.approx(value, abs=0.01)


def test_re_deriving_the_national_weights_from_the_subgroups():
    """Count-weighted average of the subgroup medians, computed here with plain pandas."""
    sub = cchi_subgroups()
    published = cchi_by_category().set_index("police_uk_category")["national"]
    for category, rows in sub.groupby("police_uk_category"):
        w = rows["national_count_2024_25"]
        plain = (rows["cchi_days_median"] * w).sum() / w.sum()
        assert plain == pytest.approx(published[category], abs=0.01)
        assert derive_category_weights("median")[category] == pytest.approx(plain, rel=1e-12)
    mean = harm_table("cchi-mean").weight_of()
    rows = sub[sub["police_uk_category"] == "violence-and-sexual-offences"]
    w = rows["national_count_2024_25"]
    assert mean["violence-and-sexual-offences"] == pytest.approx(
        (rows["cchi_days_mean"] * w).sum() / w.sum())


def test_every_canonical_type_has_a_weight_asb_the_floor_and_2011_types_derived():
    table = harm_table("cchi")
    weights = table.weight_of()
    assert set(weights) == set(crime_types()["crime_type"])
    assert weights["anti-social-behaviour"] == ASB_FLOOR_DAYS == 1.0
    status = dict(zip(table.frame["crime_type"], table.frame["status"], strict=True))
    assert status["anti-social-behaviour"] == "floor"
    assert status["violent-crime-2011"] == "derived"
    assert weights["violent-crime-2011"] == weights["violence-and-sexual-offences"]
    lo, hi = weights["public-order"], weights["possession-of-weapons"]
    assert lo < weights["public-disorder-and-weapons"] < hi
    assert table.unit == "CCHI days" and "placeholder" not in set(table.frame["status"])
    count = harm_table("count")
    assert set(count.weight_of().values()) == {1.0} and count.unit == "incidents"


def test_force_is_read_from_police_uk_names():
    assert force_of(["Leicestershire Police"]) == "leicestershire"
    assert force_of(["West Midlands Police", "West Midlands Police"]) == "west-midlands"
    assert force_of(["Leicestershire Police", "West Midlands Police"]) is None
    assert force_of(["Kent Police"]) is None


def test_user_harm_file_and_its_errors(tmp_path):
    good = tmp_path / "harm.csv"
    pd.DataFrame({"crime_type": ["burglary", "robbery"], "harm_weight": [100, 200]}).to_csv(
        good, index=False)
    table = harm_table(str(good))
    assert table.scheme == "file" and table.weight_of() == {"burglary": 100.0, "robbery": 200.0}
    with pytest.raises(InvalidParameterError, match="no weight for crime type.*shoplifting"):
        table.weights(["burglary", "shoplifting"])
    negative = tmp_path / "neg.csv"
    negative.write_text("crime_type,harm_weight\nburglary,10\nrobbery,-3\n")
    with pytest.raises(InputFormatError, match=r"neg.csv: row 3, field harm_weight: '-3'"):
        harm_table(str(negative))
    text = tmp_path / "text.csv"
    text.write_text("crime_type,harm_weight\nburglary,lots\n")
    with pytest.raises(InputFormatError, match="row 2, field harm_weight"):
        harm_table(str(text))
    missing = tmp_path / "cols.csv"
    missing.write_text("type,weight\nburglary,1\n")
    with pytest.raises(InputFormatError, match=r"lacks column\(s\) \['crime_type'"):
        harm_table(str(missing))
    dup = tmp_path / "dup.csv"
    dup.write_text("crime_type,harm_weight\nburglary,1\nburglary,2\n")
    with pytest.raises(InputFormatError, match="row 3, field crime_type: 'burglary' appears"):
        harm_table(str(dup))
    with pytest.raises(InvalidParameterError, match="harm scheme 'median'"):
        harm_table("median")
    with pytest.raises(InvalidParameterError, match="force 'kent'"):
        harm_table("cchi", force="kent")
    assert harm_weights().weight_of() == harm_table("cchi").weight_of()

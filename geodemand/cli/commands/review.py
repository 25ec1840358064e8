"""``geodemand review``: open plans, due reviews and past review results from the register."""

from __future__ import annotations

import re

import click
import pandas as pd

SECTIONS = ("open", "due", "results")
OPEN_COLUMNS = ["lpu", "kind", "item_id", "label", "first_period", "plan_start", "review_date",
                "runs_listed", "last_listed", "last_status"]
DUE_COLUMNS = ["lpu", "kind", "item_id", "label", "plan_start", "review_date", "state",
               "last_status"]
RESULT_COLUMNS = ["lpu", "kind", "item_id", "label", "plan_start", "review_date", "outcome",
                  "area_before", "area_after", "area_harm_change_pct",
                  "control_harm_change_pct", "wdq", "p_value", "sentence"]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _show(frame: pd.DataFrame, columns: list[str]) -> str:
    """A plain-text table; control characters of stored text (labels come from incident
    files) are replaced so they cannot drive the terminal."""
    if frame.empty:
        return "  (none)"
    view = frame[columns].copy()
    for c in view.columns:
        if pd.api.types.is_datetime64_any_dtype(view[c]):
            view[c] = view[c].dt.strftime("%Y-%m-%d").fillna("")
        elif not pd.api.types.is_numeric_dtype(view[c]):
            view[c] = view[c].map(lambda v: _CONTROL.sub("?", v) if isinstance(v, str) else v)
    return view.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3g}")


@click.command("review")
@click.option("--register", "register_path", type=click.Path(dir_okay=False),
              default="maps/register.gpkg", show_default=True,
              help="The control-plan register written by the weekly runs.")
@click.option("--as-of", default=None,
              help="Date (YYYY-MM-DD) for open plans and due reviews; default: the end of the "
                   "latest recorded period.")
@click.option("--lpu", "lpus", multiple=True, help="Only this LPU (repeatable).")
@click.option("--show", "show", type=click.Choice([*SECTIONS, "all"]), default="all",
              show_default=True, help="Which list to show.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the rows shown to this CSV file (column 'section' says which "
                   "list).")
def command(register_path, as_of, lpus, show, csv_path):
    """List open control plans, plans due for review, and past review results.

    Reads the register only (it is created and filled by ``geodemand weekly``).
    """
    from geodemand._announce import announce
    from geodemand._spreadsheet import write_csv
    from geodemand.evaluate.register import Register

    with Register.open(register_path, create=False) as reg:
        if as_of is None:
            latest = reg.latest_period_end()
            as_of = latest
            if latest is not None:
                announce(f"as of {latest:%Y-%m-%d}, the end of the latest recorded period "
                         "(--as-of to change)")
        wanted = SECTIONS if show == "all" else (show,)
        frames = {}
        if "open" in wanted:
            frames["open"] = reg.open_plans(as_of)
        if "due" in wanted:
            frames["due"] = reg.due_reviews(as_of)
        if "results" in wanted:
            frames["results"] = reg.reviews()
        n_runs = len(reg.runs())
    if lpus:
        frames = {k: v[v["lpu"].isin(lpus)] for k, v in frames.items()}
    when = "" if as_of is None else f" as of {pd.Timestamp(as_of):%Y-%m-%d}"
    click.echo(f"register {register_path}: {n_runs} run(s) recorded")
    titles = {"open": f"Open plans{when}", "due": f"Due for review{when} (not yet reviewed)",
              "results": "Review results"}
    columns = {"open": OPEN_COLUMNS, "due": DUE_COLUMNS, "results": RESULT_COLUMNS}
    for key, frame in frames.items():
        click.echo(f"\n{titles[key]}: {len(frame)}")
        click.echo(_show(frame, columns[key]))
    if csv_path:
        rows = pd.concat([f.assign(section=k) for k, f in frames.items()], ignore_index=True,
                         sort=False)
        rows = rows[["section", *[c for c in rows.columns if c not in ("section", "fid")]]]
        write_csv(rows, csv_path)
        click.echo(f"\nwrote {csv_path} ({len(rows)} rows)")

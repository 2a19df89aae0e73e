# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 99 · The claims report
#
# Every claim of the three papers, how we read it, what we measured, the rule that decides and
# the verdict, with its figure. This notebook only reads the claims ledger
# (`results/claims/<id>.json`) that notebooks 01–05 wrote; it measures nothing itself.
# A claim with no ledger entry is shown as **missing**, never as supported. It writes
# `figures/claims.md` and, when run into the repository itself, the verdict table at the top of
# the README.

# %% tags=["parameters"]
profile = "quick"
show_figures = True

# %% [markdown]
# Check the parameters.

# %%
from halfway_utils.infra import params

P = params.validate(locals(), {"profile": params.profile(), "show_figures": params.boolean()})

# %% [markdown]
# Read the ledger and build the table.

# %%
import pandas as pd
from IPython.display import Image, Markdown, display

from halfway_utils.evidence import report
from halfway_utils.infra import outputs
from halfway_utils.infra.paths import figures_dir

outputs.route("99_report", P)  # the profile's record, or runs/<profile>+<hash>/ if a value differs

table = report.claims_table()
tables = report.profile_tables() if P["profile"] == "quick" else {P["profile"]: table}
pd.set_option("display.max_colwidth", 80)
table[["id", "title", "verdict", "by_stratum", "effect", "references", "controls_text", "replicates", "profile"]]

# %% [markdown]
# ## Every claim at a glance
# One forest plot per claim: the primary effect in each (data set, architecture) stratum and
# pooled, with its 95% interval, and the claim's two controls (hollow markers, dotted), against
# both references: the null (grey line, its no-effect band shaded) and the rule's margin
# (dashed); the colour is the verdict (supported, weaker than claimed, no effect,
# inconclusive). Where a
# committed full-profile run sits beside this one (`runs/full/`), its estimates are drawn on the
# same rows with square markers.

# %%
import matplotlib.pyplot as plt

from halfway_utils.infra import plotting

plotting.set_style()
fig = report.overview_figure(tables)
plotting.save_figure(fig, "claims_overview")
plt.show()

# %% [markdown]
# ## Verdicts
# The short table; the README opens with the same one.

# %%
display(Markdown(report.verdict_markdown(table)))

# %% [markdown]
# ## In plain words
# One sentence per claim, generated from the numbers: what holds, where, how far from the ideal,
# whether the controls read as built; then the margin's reason and the verdict for any other
# margin (the margin curve, read off the interval's bounds).

# %%
display(Markdown(report.sentences_markdown(table)))

# %% [markdown]
# ## Does a verdict depend on the scale?
# Each profile with a ledger, side by side: the verdict per stratum and the sizes it stands on, then
# every claim or stratum whose verdict differs between the quick subsets and the full training sets.

# %%
display(Markdown(report.side_by_side_markdown(tables)))
print("\n".join(report.scale_changes(tables)) or "no verdict changes with the scale")

# %% [markdown]
# ## Each claim with its figure
# The reading, the numbers with their 95% intervals, the rule, the null, the verdict per stratum and the
# first figure.

# %%
for _, row in table.iterrows():
    strata = f" (by stratum: {row['by_stratum']})" if row["by_stratum"] else ""
    display(Markdown(f"### {row['id']} · {row['title']}\n\n*{row['paper']}*\n\n"
                     f"**Our reading:** {row['reading'] or '-'}\n\n**Measured:** {row['measurement'] or '-'}\n\n"
                     f"**Rule:** {row['rule'] or '-'}\n\n**Null:** {row['null'] or '-'}\n\n"
                     f"**Verdict: {row['verdict']}**{strata}"))
    pngs = [f for f in row["figures"].split(", ") if f.endswith(".png")]
    if show_figures and pngs and (figures_dir() / pngs[0]).exists():
        display(Image(filename=str(figures_dir() / pngs[0]), width=640))

# %% [markdown]
# ## Write the report
# `figures/claims.md`, and the README's verdict block when this run writes into the repository.

# %%
path = report.write_report(table, tables)
updated = report.update_readme(table, tables=tables)
missing = table.loc[table["verdict"] == report.MISSING, "id"].tolist()
print(f"wrote {path}; README updated: {updated}; missing claims: {missing or 'none'}")

"""The figure style in one place: figures are saved as PNG and PDF and logged for the ledger."""
import matplotlib.pyplot as plt
import pytest

from halfway_utils.infra import plotting


def test_figures_saves_png_and_pdf_and_logs_the_png(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    figs = plotting.Figures()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert figs.save(fig, "01_line") is fig
    plt.close(fig)
    assert figs.names == ["figures/01_line.png"]
    assert (tmp_path / "figures" / "01_line.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "figures" / "01_line.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize("name", ["", "a/b", "x.png"])
def test_bad_figure_names_are_refused(name, tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    with pytest.raises(ValueError, match="bare stem"):
        plotting.save_figure(plt.figure(), name)

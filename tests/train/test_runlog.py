import matplotlib.image
import pytest

from c2p4d.train.runlog import RunLog


@pytest.mark.parametrize(("scored", "panels"), [(True, 2), (False, 1)])
def test_curves_draw_the_scores_panel_only_when_the_run_scores(tmp_path, scored, panels):
    """A pretraining with probe.every=0 logs no probe: its curves.png is the losses alone."""
    log = RunLog(tmp_path, {}, main=True, start_epoch=0)
    for epoch in (1, 2):
        scores = {"probe_acc": 20.0 + epoch, "probe_chance": 13.9} if scored else {}
        log.epoch(epoch, {"loss": 3.0 / epoch, "geo": 3.1 / epoch, **scores})
    log.close()
    height, width, _ = matplotlib.image.imread(tmp_path / "curves.png").shape
    assert (height, width) == (342, 450 * panels)  # 5 x 3.8 inches a panel at 90 dpi

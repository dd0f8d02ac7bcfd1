"""What the report shows a person: every owner, harmful ones and replayers named as such."""

from mycroft_fl.trainer.report import owner_status, ranking_bars

OWNERS = [
    {
        "id": "good",
        "status": "ok",
        "rank": 1,
        "utility": 0.5,
        "harmful": False,
        "replayed": 0,
        "received": 8,
    },
    {
        "id": "copycat",
        "status": "ok",
        "rank": 2,
        "utility": 0.0,
        "harmful": False,
        "replayed": 8,
        "received": 8,
    },
    {
        "id": "flipper",
        "status": "ok",
        "rank": 3,
        "utility": 0.3,
        "harmful": True,
        "replayed": 0,
        "received": 8,
    },
    {
        "id": "broken",
        "status": "rejected",
        "rank": None,
        "reason": "labels outside 0..9 (found 0..12)",
    },
    {"id": "gone", "status": "failed", "rank": None, "reason": "no reply within 60 s"},
]


def test_the_ranking_plot_shows_every_owner_and_marks_the_harmful_ones():
    bars = ranking_bars(OWNERS)
    assert [b.label for b in bars] == [
        "1. good",
        "2. copycat (replayer (8 replayed))",
        "3. flipper (harmful)",
        "-  broken (rejected)",
        "-  gone (failed)",
    ]
    assert [b.colour for b in bars] == ["tab:blue", "tab:blue", "tab:red", "lightgrey", "lightgrey"]
    assert bars[3].reason == "labels outside 0..9 (found 0..12)" and bars[0].reason is None


def test_the_table_names_a_replaying_owner():
    assert [owner_status(o) for o in OWNERS[:3]] == ["ok", "replayer (8 replayed)", "harmful"]


def test_interval_and_unsettled_order_in_the_table_and_the_plot():
    from mycroft_fl.trainer.report import unsettled_order

    owners = [
        {**OWNERS[0], "value_ci": [0.3, 0.7]},
        {**OWNERS[2], "harmful": False, "utility": 0.4, "rank": 2, "value_ci": [0.2, 0.6]},
        {**OWNERS[1], "rank": 3, "value_ci": [-0.1, 0.1]},
    ]
    assert unsettled_order(owners) == {
        "good"
    }  # good and flipper overlap; flipper and copycat do not
    bars = ranking_bars(owners)
    assert bars[0].label == "1~. good" and bars[0].interval == (0.3, 0.7)

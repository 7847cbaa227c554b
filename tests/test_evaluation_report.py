"""The metrics and the report of ``headstart evaluate RUN --test FILE``, on small hand-made predictions."""
import base64
import html.parser
import json
import re

import numpy as np
import pytest

from headstart.classifier.evaluation import classification_metrics
from headstart.classifier.evaluation_report import confusion_matrix_png, write_evaluation

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Six examples of three classes.  Confidences 0.5, 0.7 and 0.9 sit inside the 15-bin grid's bins
# (0.4667, 0.5333], (0.6667, 0.7333] and (0.8667, 0.9333], away from the edges.
LABELS = np.array([0, 0, 1, 1, 2, 2])
PROBABILITIES = np.array([[0.90, 0.05, 0.05],   # a → a, confidence 0.9, right
                          [0.25, 0.50, 0.25],   # a → b, 0.5, wrong
                          [0.05, 0.90, 0.05],   # b → b, 0.9, right
                          [0.10, 0.20, 0.70],   # b → c, 0.7, wrong
                          [0.05, 0.05, 0.90],   # c → c, 0.9, right
                          [0.20, 0.10, 0.70]])  # c → c, 0.7, right


def test_three_classes_by_hand():
    m = classification_metrics(LABELS, PROBABILITIES, ["a", "b", "c"])

    assert m["n"] == 6 and m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == {"labels": ["a", "b", "c"], "counts": [[1, 1, 0],   # true a
                                                                           [0, 1, 1],   # true b
                                                                           [0, 0, 2]]}  # true c
    assert list(m["per_class"]) == ["a", "b", "c"]
    expected = {"a": (1 / 1, 1 / 2, 2 / 3, 2), "b": (1 / 2, 1 / 2, 1 / 2, 2), "c": (2 / 3, 2 / 2, 4 / 5, 2)}
    for name, (precision, recall, f1, support) in expected.items():
        row = m["per_class"][name]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((precision, recall, f1))
        assert row["support"] == support
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 4 / 5) / 3)

    # ECE: bin at 0.9 holds 3 examples, all right (gap 0.1); at 0.7, 2 with 1 right (gap 0.2); at 0.5, 1 wrong (0.5).
    assert m["ece"] == pytest.approx(3 / 6 * 0.1 + 2 / 6 * 0.2 + 1 / 6 * 0.5)  # = 0.2
    filled = [row for row in m["calibration_bins"] if row["count"]]
    assert [row["count"] for row in filled] == [1, 2, 3]
    assert [row["confidence"] for row in filled] == pytest.approx([0.5, 0.7, 0.9])
    assert [row["accuracy"] for row in filled] == pytest.approx([0.0, 0.5, 1.0])
    assert len(m["calibration_bins"]) == 15

    # Log loss: the probability each example gave its true class.
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.25, 0.9, 0.2, 0.9, 0.7])))
    # 4 of 6: the Wilson 95% interval is 30.0% to 90.3%.
    assert m["accuracy_interval"]["method"] == "wilson" and m["accuracy_interval"]["level"] == 0.95
    assert (m["accuracy_interval"]["low"], m["accuracy_interval"]["high"]) == pytest.approx((0.3000, 0.9032), abs=1e-4)
    json.dumps(m, allow_nan=False)  # plain JSON as it stands


def test_class_never_seen_nor_predicted_has_no_f1_and_leaves_macro_f1_alone():
    m = classification_metrics([0, 1], [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]], ["a", "b", "unused"])
    assert m["per_class"]["unused"] == {"precision": None, "recall": None, "f1": None, "support": 0}
    assert m["macro_f1"] == 1.0


def test_perfectly_calibrated_predictions_have_zero_ece():
    # Confidence 0.75 right 3 times in 4, and 0.5 right once in 2 (a tie predicts the lower id, class 0).
    labels = np.array([0, 0, 0, 1, 0, 1])
    probabilities = np.array([[0.75, 0.25]] * 4 + [[0.5, 0.5]] * 2)
    m = classification_metrics(labels, probabilities, ["yes", "no"])
    assert m["ece"] == 0.0
    assert m["accuracy"] == pytest.approx(4 / 6)


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0]])
def test_labels_outside_the_classes_are_refused(labels):
    with pytest.raises(ValueError, match="outside 0..2"):
        classification_metrics(np.array(labels), np.full((2, 3), 1 / 3), ["a", "b", "c"])


def test_logits_are_refused():
    with pytest.raises(ValueError, match="softmax outputs, not logits"):
        classification_metrics(np.array([0, 1]), np.array([[2.0, -1.0], [0.5, 3.0]]), ["a", "b"])


class Tags(html.parser.HTMLParser):
    """The tags and the attributes a browser would see in a page."""

    def __init__(self, page: str):
        super().__init__()
        self.tags, self.attributes = set(), []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes += attrs


def test_report_is_self_contained_and_escapes_every_name(tmp_path):
    names = ["<script>alert(1)</script>", "'><img src=x onerror=alert(2)>", "b & $\\x{$"]
    m = classification_metrics(LABELS, PROBABILITIES, names)
    paths = write_evaluation(tmp_path / "eval", m, title="Evaluation of <run>",
                             details={"run": "runs/<b>bold</b>", "test_file": "data/test.jsonl", "skipped": 2})

    assert {name: path.name for name, path in paths.items()} == {
        "json": "evaluation.json", "html": "evaluation.html",
        "confusion_matrix": "confusion_matrix.png", "reliability": "reliability.png"}
    page = paths["html"].read_text(encoding="utf-8")
    assert "<script" not in page and "<b>bold" not in page and "<run>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "b &amp; $\\x{$" in page
    assert not re.search(r"""(src|href)\s*=\s*['"]?\s*(https?:)?//""", page, re.IGNORECASE)
    seen = Tags(page)
    assert seen.tags <= {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "p", "table", "thead",
                         "tbody", "tr", "th", "td", "img", "details", "summary"}
    assert not any(name.startswith("on") for name, _ in seen.attributes)
    assert all(value.startswith("data:image/png;base64,") for name, value in seen.attributes if name == "src")
    assert "Content-Security-Policy" in page and "66.7%" in page  # the headline accuracy
    for figure in ("confusion_matrix", "reliability"):
        png = paths[figure].read_bytes()
        assert png.startswith(PNG_SIGNATURE)
        assert base64.b64encode(png).decode("ascii") in page  # the page shows the same figure inline

    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert document["details"]["skipped"] == 2 and document["title"] == "Evaluation of <run>"
    assert document["accuracy"] == pytest.approx(4 / 6)
    assert list(document["per_class"]) == names


def test_confusion_matrix_of_many_classes_still_renders():
    k = 21  # small tick labels and cell numbers, names cut short
    counts = np.diag(np.full(k, 40)) + np.eye(k, k=1, dtype=int)
    png = confusion_matrix_png(counts, [f"class number {i} with a name too long for an axis" for i in range(k)])
    assert png.startswith(PNG_SIGNATURE)

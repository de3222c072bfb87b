"""torch's thread count is restored after a block and after every node that sets it."""

from __future__ import annotations

import pytest
import torch

from genaug.common.threads import torch_threads
from genaug.pipelines.evaluation.nodes import train_evaluator
from genaug.pipelines.training.nodes import train_classifier
from tests.support import evaluation_params, names, patterns, training_params


def _other(count: int) -> int:
    """A thread count different from `count`."""
    return 1 if count != 1 else 2


def test_block_sets_the_count_and_restores_it_even_on_error():
    before = torch.get_num_threads()
    with torch_threads(_other(before)):
        assert torch.get_num_threads() == _other(before)
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(_other(before)):
        raise RuntimeError("node failed")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_training_node_restores_the_count(monkeypatch):
    before = torch.get_num_threads()
    seen = []
    import genaug.pipelines.training.nodes as training_nodes

    real_train_seeds = training_nodes.train_seeds

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_train_seeds(*args, **kwargs)

    monkeypatch.setattr(training_nodes, "train_seeds", recording)
    params = training_params({"strategy": "real_only", "epochs": 1, "seeds": 1,
                              "num_threads": _other(before)})
    train_classifier(patterns(5), names(), None, params, 7, "cpu")
    assert seen == [_other(before)]
    assert torch.get_num_threads() == before


def test_evaluator_node_restores_the_count():
    before = torch.get_num_threads()
    params = evaluation_params({"evaluator": {"epochs": 1, "num_threads": _other(before)}})
    real = patterns(5)
    train_evaluator(real, patterns(3, seed=1), patterns(3, seed=2), names(), params, 7, "cpu")
    assert torch.get_num_threads() == before

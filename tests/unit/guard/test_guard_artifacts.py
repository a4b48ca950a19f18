"""Prohibited artifacts: per-tensor hashes survive re-serialisation; signed lists only."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from pausebutton.errors import BelowThresholdError, PolicyError, RollbackError  # noqa: E402
from pausebutton.guard.artifacts import (  # noqa: E402
    ProhibitedList,
    file_hash,
    listable_tensors,
    tensor_hash,
)
from pausebutton.guard.budget import LocalBudget  # noqa: E402
from pausebutton.guard.examples import tiny_gpt  # noqa: E402
from pausebutton.guard.torch import Guard  # noqa: E402
from pausebutton.protocol.envelope import Envelope  # noqa: E402
from pausebutton.protocol.genesis import found_authority  # noqa: E402
from pausebutton.protocol.messages import Artifact, ArtifactKind, ProhibitedArtifacts  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def authority():
    keys = found_authority(members=3, threshold=2, seed=b"artifacts-test")
    return keys, keys.trust_root(version=1, expires=2**40)


def _signed(keys, artifacts, sequence=1, signers=2):
    payload = ProhibitedArtifacts(sequence=sequence, issued_at=1, artifacts=tuple(artifacts))
    return Envelope.create(payload, list(keys.members.values())[:signers]).encode()


def _banned_model():
    torch.manual_seed(1234)
    return tiny_gpt(d_model=64, ctx=8)


def test_tensor_hash_is_canonical():
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert tensor_hash(t) == tensor_hash(t.clone())
    assert tensor_hash(t) == tensor_hash(t.t().contiguous().t())  # non-contiguous view
    assert tensor_hash(t) != tensor_hash(t.reshape(4, 3))
    assert tensor_hash(t) != tensor_hash(t.double())
    assert tensor_hash(t.bfloat16()) == tensor_hash(t.bfloat16().clone())
    assert tensor_hash(torch.zeros(0)) != tensor_hash(torch.zeros(0, 1))


def test_reserialised_renamed_weights_are_still_refused(tmp_path, authority):
    keys, root = authority
    banned = _banned_model()
    plist = ProhibitedList.verify(_signed(keys, listable_tensors(banned)), root)
    original = tmp_path / "banned.pt"
    torch.save(banned.state_dict(), original)
    # re-serialise: other key names, other order, wrapped in a dict, another file
    sd = banned.state_dict()
    renamed = {f"model.layer{i}": v.clone() for i, (_, v) in enumerate(reversed(sd.items()))}
    other = tmp_path / "innocent.bin"
    torch.save({"weights": renamed, "step": 7}, other)
    assert file_hash(original) != file_hash(other)
    reports = []
    for path in (original, other):
        with pytest.raises(PolicyError):
            plist.load(path, report=reports.append)
    assert len(reports) == 2 and reports[1]["event"] == "prohibited-artifact"
    # a single listed tensor inside another model is caught too
    mixed = tiny_gpt(d_model=64, ctx=8).state_dict()
    mixed["head.weight"] = sd["head.weight"].clone()
    with pytest.raises(PolicyError):
        plist.check_tensors(mixed)


def test_unlisted_weights_load(tmp_path, authority):
    keys, root = authority
    plist = ProhibitedList.verify(_signed(keys, listable_tensors(_banned_model())), root)
    torch.manual_seed(99)
    fine = tiny_gpt(d_model=64, ctx=8)
    path = tmp_path / "fine.pt"
    torch.save(fine.state_dict(), path)
    loaded = plist.load(path)
    assert set(loaded) == set(fine.state_dict())


def test_listed_file_and_code_are_refused(tmp_path, authority):
    keys, root = authority
    script = tmp_path / "train_banned.py"
    script.write_text("print('train')\n")
    art = Artifact(ArtifactKind.CODE, file_hash(script), "banned training code")
    plist = ProhibitedList.verify(_signed(keys, [art]), root)
    with pytest.raises(PolicyError):
        plist.check_code(script)
    other = tmp_path / "ok.py"
    other.write_text("print('ok')\n")
    plist.check_code(other)


def test_guard_refuses_a_model_with_listed_weights(authority):
    keys, root = authority
    banned = _banned_model()
    plist = ProhibitedList.verify(_signed(keys, listable_tensors(banned)), root)
    budget = LocalBudget(10**12)
    with pytest.raises(PolicyError), Guard(budget, model=banned, prohibited=plist):
        pytest.fail("the guard must refuse before the loop runs")
    assert budget.artifact_reports and budget.artifact_reports[0]["hits"]


def test_list_needs_the_pause_quorum_and_no_rollback(authority):
    keys, root = authority
    with pytest.raises(BelowThresholdError):
        ProhibitedList.verify(_signed(keys, [], signers=1), root)
    newer = ProhibitedList.verify(_signed(keys, [], sequence=5), root)
    with pytest.raises(RollbackError):
        ProhibitedList.verify(_signed(keys, [], sequence=4), root, previous=newer)

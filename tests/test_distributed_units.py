"""Tests of the distributed helpers that need no launch: shards, all-gather encoding,
metric totals, parameter fingerprints, the server optimizer, kvstore arguments."""

from __future__ import annotations

import importlib.util
import logging
import pickle

import numpy as np
import pytest
from _training_helpers import make_net, wine
from hypothesis import given, settings
from hypothesis import strategies as st

import gluon_safe.distributed as distributed
from gluon_safe import LaunchError, ShardSampler
from gluon_safe._compat import gluon, mx, nd
from gluon_safe.data import DeviceDataLoader
from gluon_safe.distributed import (
    Gatherer,
    check_combinable,
    check_same_parameters,
    create_kvstore,
    evaluation_range,
    is_distributed,
    is_parameter_server,
    is_primary,
    join_run,
    parameter_fingerprint,
    shard_for_evaluation,
    shard_for_training,
    worker_rank,
)
from gluon_safe.distributed._gather import join_float32_parts, split_into_float32
from gluon_safe.distributed._metrics import metric_totals, set_metric_totals
from gluon_safe.distributed._server import (
    RESERVED_KEY_BASE,
    ServerOptimizer,
    is_reserved_key,
    keep_pushed_rows,
)
from gluon_safe.metrics import SafeAccuracy
from gluon_safe.training import Trainer, evaluate, fit
from gluon_safe.training._progress import Progress

HOROVOD_IMPORTS = importlib.util.find_spec("horovod") is not None


def dataset(n):
    features = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    labels = np.arange(n, dtype=np.float32)
    return gluon.data.ArrayDataset(features, labels)


def labels_of(loader):
    """Return every label the loader yields in one epoch, in order."""
    values = []
    for batch in loader:
        values.extend(batch[1][0].asnumpy().tolist() if isinstance(batch[1], list)
                      else batch[1].asnumpy().tolist())
    return values


class FixedGatherer(Gatherer):
    """A gatherer of one pretended worker set: returns preset rows."""

    def __init__(self, rows):
        self.rows = np.asarray(rows, dtype=np.float64)
        self.rank = 0
        self.num_workers = self.rows.shape[0]

    def allgather(self, values):
        return self.rows


# --- all-gather encoding ---------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64)
                .filter(lambda x: not np.isfinite(x) or x == 0 or 2**-97 <= abs(x) <= 3.4e38),
                min_size=1, max_size=20))
def test_split_into_float32_round_trips_exactly(values):
    original = np.array(values, dtype=np.float64)
    parts = split_into_float32(original)
    restored = join_float32_parts(parts.reshape(1, -1))[0]
    assert parts.dtype == np.float32
    assert parts.size == 3 * original.size
    np.testing.assert_array_equal(restored, original)


def test_join_float32_parts_keeps_rows():
    rows = np.stack([split_into_float32(np.array([0.1, 2.5])),
                     split_into_float32(np.array([1 / 3, -7.0]))])
    np.testing.assert_array_equal(join_float32_parts(rows), [[0.1, 2.5], [1 / 3, -7.0]])


# --- shards ----------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=1, max_value=9))
def test_evaluation_range_covers_each_sample_once(length, num_workers):
    ranges = [evaluation_range(length, rank, num_workers) for rank in range(num_workers)]
    covered = [index for start, count in ranges for index in range(start, start + count)]
    counts = [count for _, count in ranges]
    assert covered == list(range(length))
    assert max(counts) - min(counts) <= 1


@pytest.mark.parametrize("length", [10, 11, 3])
@pytest.mark.parametrize("shuffle", [False, True])
def test_shard_for_training_dataloader_gives_equal_disjoint_shards(length, shuffle):
    loader = gluon.data.DataLoader(dataset(length), batch_size=2, shuffle=shuffle)
    shards = [shard_for_training(loader, rank=rank, num_workers=3, seed=5) for rank in range(3)]
    seen = [labels_of(shard) for shard in shards]
    batch_counts = {len(shard) for shard in shards}
    padded = -(-length // 3) * 3

    assert len(batch_counts) == 1
    assert {len(labels) for labels in seen} == {padded // 3}
    assert sorted(set().union(*map(set, seen))) == list(range(length))
    assert sum(len(labels) for labels in seen) - length == padded - length
    for shard in shards:
        sampler = shard._batch_sampler._sampler
        assert isinstance(sampler, ShardSampler)
        assert sampler._shuffle is shuffle


def test_shard_for_training_keeps_loader_options():
    loader = gluon.data.DataLoader(dataset(9), batch_size=4, last_batch="discard",
                                   thread_pool=True, timeout=30)
    shard = shard_for_training(loader, rank=1, num_workers=2, seed=0)
    assert shard._batch_sampler._batch_size == 4
    assert shard._batch_sampler._last_batch == "discard"
    assert shard._thread_pool is True
    assert shard._timeout == 30
    assert shard._batchify_fn is loader._batchify_fn


def test_shard_for_training_keeps_own_shard_sampler():
    sampler = ShardSampler(10, 2, 1, shuffle=False)
    loader = gluon.data.DataLoader(dataset(10), batch_size=2, sampler=sampler)
    assert shard_for_training(loader, rank=1, num_workers=2, seed=0) is loader


def test_shard_for_training_rejects_other_workers_sampler():
    loader = gluon.data.DataLoader(dataset(10), batch_size=2,
                                   sampler=ShardSampler(10, 2, 0, shuffle=False))
    with pytest.raises(ValueError, match=r"does not fit worker 1 of 2 .*ShardSampler\(10, "
                                         r"num_shards=2, shard_index=1\)"):
        shard_for_training(loader, rank=1, num_workers=2, seed=0)


def test_shard_for_training_rejects_custom_sampler():
    loader = gluon.data.DataLoader(dataset(10), batch_size=2,
                                   sampler=gluon.data.SequentialSampler(5))
    with pytest.raises(TypeError, match="cannot split between workers"):
        shard_for_training(loader, rank=0, num_workers=2, seed=0)


def test_shard_for_training_rejects_batch_sampler():
    batch_sampler = gluon.data.BatchSampler(gluon.data.SequentialSampler(10), 2)

    class OwnBatchSampler(gluon.data.Sampler):
        def __iter__(self):
            return iter(batch_sampler)

        def __len__(self):
            return len(batch_sampler)

    loader = gluon.data.DataLoader(dataset(10), batch_sampler=OwnBatchSampler())
    with pytest.raises(TypeError, match="batch sampler OwnBatchSampler"):
        shard_for_training(loader, rank=0, num_workers=2, seed=0)


def test_shard_for_training_rejects_plain_iterable():
    pairs = [(nd.ones((2, 2)), nd.zeros((2,)))]
    with pytest.raises(TypeError, match=r"train_data is a list.*built on a Dataset"):
        shard_for_training(pairs, rank=0, num_workers=2, seed=0)


def test_shard_for_training_rejects_empty_dataset():
    loader = gluon.data.DataLoader(dataset(0), batch_size=2)
    with pytest.raises(ValueError, match="empty dataset"):
        shard_for_training(loader, rank=0, num_workers=2, seed=0)


def test_shard_for_training_device_loader_keeps_label_options():
    loader = DeviceDataLoader(dataset(10), batch_size=2, shuffle=True, ctx="cpu",
                              num_classes=10, device_prefetch=0)
    shard = shard_for_training(loader, rank=0, num_workers=2, seed=3)
    assert isinstance(shard, DeviceDataLoader)
    assert isinstance(shard.sampler, ShardSampler)
    assert shard.sampler._shuffle is True
    assert shard.num_classes == 10
    assert shard.ctx == loader.ctx
    assert len(labels_of(shard)) == 5


def test_shard_for_training_wrapped_dataloader():
    inner = gluon.data.DataLoader(dataset(7), batch_size=2)
    loader = DeviceDataLoader(inner, ctx="cpu", device_prefetch=0)
    shards = [shard_for_training(loader, rank=rank, num_workers=2, seed=0) for rank in (0, 1)]
    assert [labels_of(shard) for shard in shards] == [[0, 2, 4, 6], [1, 3, 5, 0]]


def test_shard_for_evaluation_has_no_duplicates():
    # A ShardSampler pads shards; evaluation must still count each sample once.
    loader = gluon.data.DataLoader(dataset(11), batch_size=3,
                                   sampler=ShardSampler(11, 3, 0, shuffle=False))
    shards = [shard_for_evaluation(loader, rank=rank, num_workers=3) for rank in range(3)]
    assert [labels_of(shard) for shard in shards] == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]


def test_shard_for_evaluation_worker_without_samples():
    loader = gluon.data.DataLoader(dataset(2), batch_size=3)
    assert labels_of(shard_for_evaluation(loader, rank=2, num_workers=3)) == []


# --- metric totals ---------------------------------------------------------------------

def test_check_combinable_accepts_sum_metrics():
    composite = mx.metric.CompositeEvalMetric([mx.metric.Accuracy(), mx.metric.MAE()])
    check_combinable([SafeAccuracy(), composite, mx.metric.F1(), mx.metric.Perplexity(None)])


@pytest.mark.parametrize("metric, name", [
    (mx.metric.PCC(), "pcc"),
    (mx.metric.F1(average="micro"), "f1"),
    (mx.metric.MCC(average="micro"), "mcc"),
    (mx.metric.CompositeEvalMetric([mx.metric.Accuracy(), mx.metric.PCC()]), "pcc"),
], ids=["pcc", "f1-micro", "mcc-micro", "composite-pcc"])
def test_check_combinable_rejects_other_state(metric, name):
    with pytest.raises(ValueError, match=f"the metric '{name}' .*cannot be combined over "
                                         "workers"):
        check_combinable([metric])


def test_metric_totals_sum_gives_global_value():
    # Two workers' halves of one batch, combined, give the value of the whole batch.
    labels = nd.array([0, 1, 2, 1, 0, 2])
    preds = nd.one_hot(nd.array([0, 1, 1, 1, 2, 2]), 3)
    halves = []
    for part in (slice(0, 2), slice(2, 6)):
        metric = SafeAccuracy()
        metric.update([labels[part]], [preds[part]])
        halves.append(metric_totals([metric]))
    whole = mx.metric.Accuracy()
    whole.update([labels], [preds])

    combined = SafeAccuracy()
    set_metric_totals([combined], np.sum(halves, axis=0))
    assert combined.num_inst == 6
    assert isinstance(combined.num_inst, int)
    assert combined.get() == whole.get()


# --- parameter check -------------------------------------------------------------------

def initialized_net(seed):
    net = make_net()
    mx.random.seed(seed)
    net.initialize(mx.init.Xavier())
    return net


def params(net):
    return list(net.collect_params().values())


def test_parameter_fingerprint_same_for_same_values():
    assert np.array_equal(parameter_fingerprint(params(initialized_net(1))),
                          parameter_fingerprint(params(initialized_net(1))))


def test_parameter_fingerprint_differs_for_other_values():
    assert not np.array_equal(parameter_fingerprint(params(initialized_net(1))),
                              parameter_fingerprint(params(initialized_net(2))))


def test_parameter_fingerprint_sees_swapped_values():
    net = initialized_net(1)
    before = parameter_fingerprint(params(net))
    weight = net[0].weight
    weight.set_data(weight.data()[::-1])
    assert not np.array_equal(parameter_fingerprint(params(net)), before)


def test_check_same_parameters_passes_equal_rows():
    row = parameter_fingerprint(params(initialized_net(1)))
    check_same_parameters(params(initialized_net(1)), FixedGatherer([row, row]))


def test_check_same_parameters_names_differing_workers():
    row = parameter_fingerprint(params(initialized_net(1)))
    other = parameter_fingerprint(params(initialized_net(2)))
    with pytest.raises(LaunchError, match=r"values of worker\(s\) 2 differ .*seed=0"):
        check_same_parameters(params(initialized_net(1)), FixedGatherer([row, row, other]))


def test_check_same_parameters_reports_other_network():
    net = initialized_net(1)
    size = sum(param.data().size for param in params(net))
    row = parameter_fingerprint(params(net))
    bigger = row.copy()
    bigger[1] += 10
    with pytest.raises(LaunchError, match=f"the networks differ between workers \\(worker 0: "
                                          f"4 parameters with {size} values; worker 1: 4 "
                                          f"parameters with {size + 10} values\\)"):
        check_same_parameters(params(net), FixedGatherer([row, bigger]))


# --- the server optimizer --------------------------------------------------------------

def test_is_reserved_key_range():
    assert is_reserved_key(RESERVED_KEY_BASE + 1)
    assert not is_reserved_key(RESERVED_KEY_BASE)
    assert not is_reserved_key(3)
    assert not is_reserved_key(True)
    assert not is_reserved_key("200005")


def test_keep_pushed_rows_keeps_marked_rows_only():
    stored = nd.array([[1, 10, 11], [1, 20, 21]])
    pushed = nd.array([[0, 0, 0], [2, 22, np.nan]])
    keep_pushed_rows(stored.reshape((-1,)), pushed.reshape((-1,)), 3)
    np.testing.assert_array_equal(stored.asnumpy(), [[1, 10, 11], [2, 22, np.nan]])


def test_server_optimizer_updates_parameters_as_wrapped():
    weight, grad = nd.array([1.0, -2.0, 3.0]), nd.array([0.5, 0.5, -1.0])
    expected, actual = weight.copy(), weight.copy()
    plain = mx.optimizer.Adam(learning_rate=0.1)
    plain.update_multi_precision(0, expected, grad, plain.create_state_multi_precision(0, weight))
    wrapped = ServerOptimizer(mx.optimizer.Adam(learning_rate=0.1))
    wrapped.update_multi_precision(0, actual, grad,
                                   wrapped.create_state_multi_precision(0, weight))
    np.testing.assert_array_equal(actual.asnumpy(), expected.asnumpy())


def test_server_optimizer_keeps_reserved_rows():
    key = RESERVED_KEY_BASE + 2
    wrapped = ServerOptimizer(mx.optimizer.Adam(learning_rate=0.1))
    stored = nd.zeros((4,))
    assert wrapped.create_state_multi_precision(key, stored) is None
    wrapped.update_multi_precision(key, stored, nd.array([1, 5, 2, 7]), None)
    np.testing.assert_array_equal(stored.asnumpy(), [1, 5, 2, 7])
    assert wrapped.num_update == 0


def test_server_optimizer_in_aggregating_updater():
    # MXNet's Updater passes lists of keys when the optimizer aggregates (SGD does).
    sgd = mx.optimizer.SGD(learning_rate=0.5)
    assert sgd.aggregate_num > 0
    updater = mx.optimizer.get_updater(ServerOptimizer(sgd))
    key = RESERVED_KEY_BASE + 2
    weight, stored = nd.array([1.0, 1.0]), nd.zeros((2,))
    updater([0, key], [nd.array([2.0, 4.0]), nd.array([3.0, 9.0])], [weight, stored])
    np.testing.assert_array_equal(weight.asnumpy(), [0.0, -1.0])
    np.testing.assert_array_equal(stored.asnumpy(), [3.0, 9.0])


def test_server_optimizer_pickles_as_kvstore_sends_it():
    wrapped = ServerOptimizer(mx.optimizer.Adam(learning_rate=0.25, multi_precision=False))
    restored = pickle.loads(pickle.dumps(wrapped, 0))
    assert isinstance(restored, ServerOptimizer)
    assert restored.learning_rate == 0.25
    assert restored.multi_precision is False
    with pytest.raises(AttributeError):
        restored.__missing_dunder__  # noqa: B018


# --- kvstore arguments, rank and joining a run -----------------------------------------

@pytest.mark.parametrize("kvstore, expected", [
    ("dist_sync", True), ("dist_device_sync", True), ("dist_sync_device", True),
    ("dist_async", True), ("horovod", False), ("device", False), ("local", False), (None, False),
])
def test_is_parameter_server(kvstore, expected):
    assert is_parameter_server(kvstore) is expected
    assert is_distributed(kvstore) is (expected or kvstore == "horovod")


def test_is_parameter_server_local_kvstore_object():
    assert not is_parameter_server(mx.kv.create("local"))


def test_join_run_local_is_none():
    assert join_run("device") is None
    assert join_run(mx.kv.create("local")) is None


def test_worker_rank_local_trainer():
    net = initialized_net(0)
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    assert worker_rank(trainer) == 0
    assert is_primary(trainer)


@pytest.fixture
def no_launch_env(monkeypatch):
    for name in distributed.REQUIRED_ENV:
        monkeypatch.delenv(name, raising=False)


def test_create_kvstore_outside_launch(no_launch_env):
    with pytest.raises(LaunchError, match=r"kvstore='dist_sync' needs the environment of a "
                                          r"distributed launch, but DMLC_ROLE, .* are not set"):
        create_kvstore("dist_sync")


def test_create_kvstore_in_server_role(monkeypatch):
    for name, value in [("DMLC_ROLE", "server"), ("DMLC_PS_ROOT_URI", "127.0.0.1"),
                        ("DMLC_PS_ROOT_PORT", "9"), ("DMLC_NUM_SERVER", "1"),
                        ("DMLC_NUM_WORKER", "1")]:
        monkeypatch.setenv(name, value)
    with pytest.raises(LaunchError, match="DMLC_ROLE='server'; only workers"):
        create_kvstore("dist_sync")


def fit_wine(**kwargs):
    features, labels = wine(30)
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(features, labels), batch_size=10)
    options = dict(loss=gluon.loss.SoftmaxCrossEntropyLoss(), epochs=1, verbose=False)
    options.update(kwargs)
    return fit(initialized_net(0), loader, **options)


def test_fit_dist_sync_outside_launch(no_launch_env):
    with pytest.raises(LaunchError, match="gluon-safe launch -n 2 -s 1"):
        fit_wine(kvstore="dist_sync")


def test_fit_distributed_kvstore_with_local_trainer():
    net = initialized_net(0)
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    with pytest.raises(ValueError, match="fit was given kvstore='dist_sync', but the trainer "
                                         "uses kvstore='device'"):
        fit_wine(trainer=trainer, kvstore="dist_sync")


@pytest.mark.skipif(HOROVOD_IMPORTS, reason="horovod is installed here")
def test_fit_horovod_without_horovod():
    with pytest.raises(ImportError, match=r"needs horovod\.mxnet.*HOROVOD_WITH_MXNET=1 pip "
                                          r"install --no-build-isolation horovod"):
        fit_wine(kvstore="horovod")


@pytest.mark.skipif(HOROVOD_IMPORTS, reason="horovod is installed here")
def test_evaluate_horovod_without_horovod():
    features, labels = wine(10)
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(features, labels), batch_size=5)
    with pytest.raises(ImportError, match=r"kvstore='horovod' needs horovod\.mxnet"):
        evaluate(initialized_net(0), loader, kvstore="horovod")


def test_progress_without_log_is_silent(caplog):
    progress = Progress(False, log=False)
    with caplog.at_level(logging.INFO, logger="gluon_safe"):
        progress.epoch_end("Epoch: 0")
    assert caplog.records == []


def test_distributed_exports_resolve():
    assert distributed.__all__ == sorted(distributed._EXPORTS)
    for name in distributed.__all__:
        assert getattr(distributed, name) is not None
    assert set(distributed.__all__) <= set(dir(distributed))
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        distributed.missing  # noqa: B018


# --- DistributedRun without a launch ---------------------------------------------------

def local_trainer(net, **options):
    return Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, **options)


def test_updates_on_kvstore_follows_trainer_config():
    net = initialized_net(0)
    run = distributed.DistributedRun("dist_sync", FixedGatherer([[0.0]]), kvstore=object())
    assert run.updates_on_kvstore(local_trainer(net, update_on_kvstore=True))
    assert not run.updates_on_kvstore(local_trainer(net, update_on_kvstore=False))
    assert run.updates_on_kvstore(local_trainer(net))
    asynchronous = distributed.DistributedRun("dist_async", FixedGatherer([[0.0]]),
                                              kvstore=object())
    assert asynchronous.updates_on_kvstore(local_trainer(net, update_on_kvstore=False))


def test_check_distributed_checkpoints_on_servers(tmp_path):
    from gluon_safe.training import Checkpoint
    from gluon_safe.training._setup import check_distributed_checkpoints

    net = initialized_net(0)
    run = distributed.DistributedRun("dist_sync", FixedGatherer([[0.0]]), kvstore=object())
    callbacks = [Checkpoint(tmp_path)]
    check_distributed_checkpoints(run, local_trainer(net, update_on_kvstore=False), callbacks)
    check_distributed_checkpoints(run, local_trainer(net, update_on_kvstore=True), [])
    with pytest.raises(ValueError, match=r"Checkpoint cannot save the optimizer states of a "
                                         r"'dist_sync' run .*update_on_kvstore=False"):
        check_distributed_checkpoints(run, local_trainer(net, update_on_kvstore=True),
                                      callbacks)


def test_step_size_rescales_other_batch_sizes():
    # With the servers' gradient scale fixed at 1/32, a global batch of 16 gets its
    # gradients doubled, so that the update divides them by 16 all the same.
    net = initialized_net(0)
    trainer = local_trainer(net)
    with mx.autograd.record():
        loss = net(nd.ones((4, 13))).sum()
    loss.backward()
    before = {name: param.grad().asnumpy() for name, param in net.collect_params().items()}
    run = distributed.DistributedRun("dist_sync", FixedGatherer([[0.0], [0.0]]),
                                     kvstore=object())
    run._started = True
    run._fixed_batch = 32.0

    assert run.step_size(trainer, net, 16) == 32.0
    for name, param in net.collect_params().items():
        np.testing.assert_array_equal(param.grad().asnumpy(), before[name])
    assert run.step_size(trainer, net, 8) == 32.0
    for name, param in net.collect_params().items():
        np.testing.assert_allclose(param.grad().asnumpy(), 2 * before[name], rtol=1e-6)


def test_reduce_totals_sets_global_metric_values():
    metric = SafeAccuracy()
    metric.update([nd.array([0, 1])], [nd.one_hot(nd.array([0, 0]), 2)])
    local = [4.0, 2.0, *metric_totals([metric])]
    other = [6.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    run = distributed.DistributedRun("dist_sync", FixedGatherer([local, other]),
                                     kvstore=object())

    loss_sum, kept = run.reduce_totals(4.0, 2, [metric])
    assert (loss_sum, kept) == (10.0, 5)
    assert metric.get() == ("accuracy", (1 + 3) / (2 + 3))

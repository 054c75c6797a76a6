"""Batches of :class:`DeviceDataLoader`: host-side label handling and the device batch type.

A batch passes three stages: a worker batchifies the samples (and encodes raw labels),
the host checks the labels, then the batch is split onto the devices.  Label errors from
any stage name the batch and, when the loader owns the sampler, the dataset indices.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
from typing_extensions import Protocol

from .._compat import Context, NDArray, nd
from ..checks import check_class_indices
from ..errors import LabelError


class SupportsTransform(Protocol):
    """A fitted label encoder: anything with ``transform(values) -> numpy array``.

    :class:`gluon_safe.LabelEncoder` and scikit-learn's ``LabelEncoder`` both fit.
    """

    def transform(self, values: Any) -> Any:
        """Map raw label values to class indices."""


class DeviceBatch(Tuple[List[Any], ...]):
    """One batch loaded onto the devices.

    A tuple with one entry per field of the samples, usually ``(data, label)``. Each entry
    is a list with one NDArray per device in use, as ``split_and_load`` returns, so
    ``for data, label in loader:`` works as with a hand-written loop.

    Attributes
    ----------
    num_samples : int
        The true number of samples, for ``trainer.step(batch.num_samples)``.
    batch_index : int
        Position of the batch in its epoch, from 0.
    indices : numpy.ndarray of int or None
        Dataset index of each sample, in batch order; None when the loader wraps an
        existing DataLoader and so cannot see its sampler.
    ctx : list of Context
        The devices in use: the first ``min(num_samples, len(loader.ctx))`` of the
        loader's devices.
    """

    num_samples: int
    batch_index: int
    indices: Optional[np.ndarray[Any, Any]]
    ctx: List[Context]

    def __new__(
        cls,
        fields: Sequence[List[Any]],
        *,
        num_samples: int,
        batch_index: int,
        indices: Optional[np.ndarray[Any, Any]],
        ctx: List[Context],
    ) -> DeviceBatch:
        batch = super().__new__(cls, fields)
        batch.num_samples = num_samples
        batch.batch_index = batch_index
        batch.indices = indices
        batch.ctx = ctx
        return batch

    @property
    def data(self) -> List[Any]:
        """The first field, one NDArray per device."""
        return self[0]

    @property
    def label(self) -> List[Any]:
        """The second field, one NDArray per device.

        Raises
        ------
        AttributeError
            If the samples have a single field.
        """
        if len(self) < 2:
            raise AttributeError(f"this batch has {len(self)} field and no label; the "
                                 "dataset yields data only")
        return self[1]

    def __reduce__(self) -> Tuple[Any, ...]:
        state = (self.num_samples, self.batch_index, self.indices, self.ctx)
        return (_rebuild_batch, (tuple(self), *state))

    def __repr__(self) -> str:
        return (f"DeviceBatch(fields={len(self)}, num_samples={self.num_samples}, "
                f"batch_index={self.batch_index}, ctx={self.ctx})")


def _rebuild_batch(
    fields: Tuple[List[Any], ...],
    num_samples: int,
    batch_index: int,
    indices: Optional[np.ndarray[Any, Any]],
    ctx: List[Context],
) -> DeviceBatch:
    return DeviceBatch(fields, num_samples=num_samples, batch_index=batch_index,
                       indices=indices, ctx=ctx)


class IndexedDataset:
    """A dataset view whose items carry their index: ``view[i] == (i, dataset[i])``.

    The index travels with the sample through the worker processes, so each batch carries
    the dataset indices of its samples, whatever the sampler and prefetch order.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Tuple[int, Any]:
        return index, self.dataset[index]


class EncodingFailure:
    """A label error raised by the encoder in a worker, returned in place of the batch.

    Returning it rather than raising keeps MXNet's worker pool alive (MXNet 1.9.1
    terminates the pool on any worker exception) and lets the host name the batch.
    """

    def __init__(self, error: LabelError) -> None:
        self.error = error


class IndexedBatchify:
    """Batchify ``(index, sample)`` pairs into ``(indices, batch)``, encoding raw labels.

    Runs in the DataLoader workers. With an encoder, the label (second field) of each
    sample is replaced by its encoded value before ``batchify_fn`` receives it, so raw labels
    may be strings that no batchify function could stack.
    """

    def __init__(self, batchify_fn: Callable[[List[Any]], Any],
                 encoder: Optional[SupportsTransform]) -> None:
        self.batchify_fn = batchify_fn
        self.encoder = encoder

    def __call__(self, pairs: List[Tuple[int, Any]]) -> Tuple[np.ndarray[Any, Any], Any]:
        indices = np.array([index for index, _ in pairs], dtype=np.int64)
        samples = [sample for _, sample in pairs]
        if self.encoder is not None:
            try:
                samples = _encode_sample_labels(self.encoder, samples)
            except LabelError as error:
                return indices, EncodingFailure(error)
        return indices, self.batchify_fn(samples)


def _encode_sample_labels(encoder: SupportsTransform, samples: List[Any]) -> List[Any]:
    if not isinstance(samples[0], tuple) or len(samples[0]) < 2:
        raise TypeError(f"encoder needs samples of the form (data, label, ...) but the dataset "
                        f"yields {type(samples[0]).__name__} items; return a tuple from the "
                        "dataset or drop the encoder")
    raw = np.asarray([sample[1] for sample in samples])
    codes = np.asarray(encoder.transform(raw))
    return [(sample[0], code, *sample[2:]) for sample, code in zip(samples, codes)]


class LabelPolicy:
    """The host-side label handling of one loader: optional encoding, then the check.

    Parameters
    ----------
    num_classes, ignore_label
        As :func:`gluon_safe.checks.check_class_indices`. When None, they are taken from
        the encoder, if it has them (see :func:`encoder_label_options`).
    encoder : SupportsTransform, optional
        Fitted encoder for raw labels.
    encode_on_host : bool
        Encode on the host. True when the loader wraps an existing DataLoader, whose
        workers it cannot reach; otherwise the workers encode (:class:`IndexedBatchify`).
    """

    def __init__(self, num_classes: Optional[int], ignore_label: Optional[float],
                 encoder: Optional[SupportsTransform], *, encode_on_host: bool) -> None:
        inferred_classes, inferred_ignore = encoder_label_options(encoder)
        self.num_classes = inferred_classes if num_classes is None else num_classes
        self.ignore_label = inferred_ignore if ignore_label is None else ignore_label
        self.encoder = encoder
        self.encode_on_host = encode_on_host

    @property
    def enabled(self) -> bool:
        """Whether labels are checked (and maybe encoded) at all."""
        return (self.num_classes is not None or self.ignore_label is not None
                or self.encoder is not None)

    def apply(self, fields: Tuple[Any, ...], batch_index: int,
              indices: Optional[np.ndarray[Any, Any]]) -> Tuple[Any, ...]:
        """Encode (on the host, if configured) and check the label field of one batch.

        Returns the fields, with the label field replaced when it was encoded here.

        Raises
        ------
        LabelError
            The check's error, naming the batch and, when ``indices`` is given, the
            dataset indices of the samples it shows.
        ValueError
            If the batch has no label field.
        """
        if not self.enabled:
            return fields
        if len(fields) < 2:
            raise ValueError(f"batch {batch_index} has {len(fields)} field, so there is no "
                             "label to check; label checks (num_classes, ignore_label, "
                             "encoder) need samples of the form (data, label)")

        labels = fields[1]
        host_labels = labels.asnumpy() if isinstance(labels, NDArray) else np.asarray(labels)
        try:
            if self.encoder is not None and self.encode_on_host:
                host_labels = np.asarray(self.encoder.transform(host_labels))
                labels = nd.array(host_labels, dtype=host_labels.dtype)
            check_class_indices(host_labels, self.num_classes,
                                ignore_label=self.ignore_label)
        except LabelError as error:
            raise locate_label_error(error, batch_index, indices) from None
        return (fields[0], labels, *fields[2:])


def encoder_label_options(encoder: Optional[SupportsTransform]
                          ) -> Tuple[Optional[int], Optional[float]]:
    """Return the ``num_classes`` and ``ignore_label`` that an encoder's output implies.

    ``num_classes`` is ``encoder.num_classes`` (gluon_safe's encoders), else
    ``len(encoder.classes_)`` (scikit-learn's), else None. ``ignore_label`` is
    ``encoder.ignore_label`` when ``encoder.unseen == 'ignore'``, since such an encoder
    maps unseen values to it on purpose, else None.

    Raises
    ------
    RuntimeError
        If a gluon_safe encoder is not fitted.
    """
    if encoder is None:
        return None, None

    num_classes = getattr(encoder, "num_classes", None)
    if not isinstance(num_classes, int):
        classes = getattr(encoder, "classes_", None)
        num_classes = len(classes) if classes is not None else None

    ignore_label = None
    if getattr(encoder, "unseen", None) == "ignore":
        ignore_label = getattr(encoder, "ignore_label", None)
    return num_classes, ignore_label


def locate_label_error(error: LabelError, batch_index: int,
                       indices: Optional[np.ndarray[Any, Any]]) -> LabelError:
    """Return a copy of ``error`` that names the batch and the dataset samples.

    The error's ``positions`` index the labels of the batch, so their first entry is
    the sample's row; ``indices`` maps rows to dataset indices. The copy gets a
    ``sample_indices`` attribute (a tuple, empty when unknown) and a message that
    lists them.
    """
    sample_indices: Tuple[int, ...] = ()
    if indices is not None:
        rows = list(dict.fromkeys(position[0] for position in error.positions if position))
        sample_indices = tuple(int(indices[row]) for row in rows if row < len(indices))
    located = error.with_batch(batch_index, sample_indices)
    return located

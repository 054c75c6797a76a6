"""The two public encoders: one label per sample, and a set of labels per sample."""

from __future__ import annotations

from typing import Any

import numpy as np
from typing_extensions import Self

from ..checks import as_label_array, check_class_indices, check_multilabel
from ._base import T, UnseenPolicy, _ClassEncoder
from ._layout import check_one_label_per_sample, flatten_label_sets
from ._values import ClassKind, to_numpy


class LabelEncoder(_ClassEncoder[T]):
    """Encode one raw label per sample as a class index in ``0..K-1``.

    Classes are the distinct raw values seen at fit, sorted, so with raw labels
    ``[3, 1, 2, 1]`` class 1 becomes index 0. Every class keeps its Python type:
    ints (integral floats such as ``2.0``, which NDArrays hold, become the int 2),
    strings, bools, or, with ``allow_float=True``, floats. Bools are a class type of
    their own: ``True == 1`` in Python, so a mix of bools and numbers is rejected
    instead of merging two classes.

    Parameters
    ----------
    allow_float : bool, default False
        Accept floats with a fractional part (0.5) as class names. When False, such
        values raise :class:`~gluon_safe.errors.ContinuousLabelError`, because they
        usually are normalized labels or regression targets.
    unseen : {'raise', 'ignore'}, default 'raise'
        What :meth:`transform` does with raw values not seen at fit: raise
        :class:`~gluon_safe.errors.UnseenLabelError`, or map them to ``ignore_label``
        (and log how many at INFO the first time, at DEBUG afterwards).
    ignore_label : int, default -1
        Index that :meth:`transform` emits for unseen values when ``unseen='ignore'``.
        It must not be a class index ``0..K-1``.

    Raises
    ------
    TypeError
        If ``allow_float`` is not a bool or ``ignore_label`` is not an int.
    ValueError
        If ``unseen`` is not ``'raise'`` or ``'ignore'``.

    Notes
    -----
    Using ``classes``, :meth:`transform`, :meth:`inverse_transform`,
    :meth:`to_json` or :meth:`save` before :meth:`fit` raises ``RuntimeError``.
    Encoders are picklable, so DataLoader worker processes can use them.

    Examples
    --------
    >>> encoder = LabelEncoder().fit([1, 3, 2, 3])
    >>> encoder.classes
    (1, 2, 3)
    >>> encoder.transform([3.0, 1.0])
    array([2, 0])
    >>> encoder.inverse_transform([2, 0])
    [3, 1]
    """

    _NAME = "LabelEncoder"
    _OPTION_NAMES = ("allow_float", "unseen", "ignore_label")

    def __init__(
        self,
        *,
        allow_float: bool = False,
        unseen: UnseenPolicy = "raise",
        ignore_label: int = -1,
    ) -> None:
        super().__init__(allow_float=allow_float, unseen=unseen)
        if isinstance(ignore_label, (bool, np.bool_)) or not isinstance(
            ignore_label, (int, np.integer)
        ):
            raise TypeError(f"ignore_label={ignore_label!r} must be an int")
        self._ignore_label = int(ignore_label)

    @property
    def ignore_label(self) -> int:
        """Index emitted for unseen values when ``unseen='ignore'``."""
        return self._ignore_label

    def _options(self) -> dict[str, Any]:
        return {**super()._options(), "ignore_label": self._ignore_label}

    def _unseen_outcome(self) -> str:
        return f"mapped to ignore_label={self._ignore_label}"

    def _check_classes(self, num_classes: int) -> None:
        if self._unseen == "ignore" and 0 <= self._ignore_label < num_classes:
            raise ValueError(
                f"ignore_label={self._ignore_label} is also a class index (0..{num_classes - 1}), "
                "so unseen values would pass as that class; use a negative value such as -1"
            )

    def fit(self, labels: Any) -> Self:
        """Learn the sorted classes from raw labels.

        Parameters
        ----------
        labels : array-like, shape (N,) or (N, 1)
            Raw labels: a list, tuple, numpy array or MXNet NDArray of ints, strings,
            bools, integral floats, or (with ``allow_float``) floats.

        Returns
        -------
        LabelEncoder
            The encoder itself, fitted.

        Raises
        ------
        LabelError
            If ``labels`` is empty, or contains None or an empty string.
        LabelLayoutError
            If ``labels`` is not of shape (N,) or (N, 1), such as one-hot rows.
        LabelTypeError
            If ``labels`` mix strings with numbers or bools with numbers, or hold a
            value that is not a bool, int, float or str.
        NonFiniteLabelError
            If a label is NaN or infinite.
        ContinuousLabelError
            If a label has a fractional part (labels normalized to [0, 1], regression
            targets) and ``allow_float`` is False.
        ValueError
            If ``unseen='ignore'`` and ``ignore_label`` is one of the new class indices.
        """
        array, kind = self._read_labels(labels)
        self._fit_unique(array, kind, "labels")
        return self

    def transform(self, labels: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Map raw labels to class indices.

        Parameters
        ----------
        labels : array-like, shape (N,) or (N, 1)
            Raw labels of the type seen at fit; ints match float classes by value.

        Returns
        -------
        numpy.ndarray of int64, same shape as ``labels``
            Class indices ``0..K-1``, and ``ignore_label`` for unseen values when
            ``unseen='ignore'``.

        Raises
        ------
        RuntimeError
            If the encoder is not fitted.
        UnseenLabelError
            If ``unseen='raise'`` and a value was not seen at fit. The message lists the
            first unseen values, their positions and count, and the known classes.
        LabelTypeError
            If the values are of another type than the classes (str against int).
        LabelError, LabelLayoutError, NonFiniteLabelError, ContinuousLabelError
            As :meth:`fit`, except that empty input gives an empty result.
        """
        self._fitted_classes()
        array, kind = self._read_labels(labels)
        index, unseen = self._lookup(array, kind, "labels")
        index[unseen] = self._ignore_label
        return index

    def fit_transform(self, labels: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Fit on ``labels`` and return their class indices; see :meth:`fit`."""
        array, kind = self._read_labels(labels)
        self._fit_unique(array, kind, "labels")
        index, _ = self._lookup(array, kind, "labels")
        return index

    def inverse_transform(self, indices: Any) -> list[T]:
        """Map class indices back to the raw classes.

        Parameters
        ----------
        indices : array-like, shape (N,) or (N, 1)
            Class indices as ints or integral floats (such as ``pred.argmax(axis=1)``),
            in a list, numpy array or NDArray.

        Returns
        -------
        list
            One raw class per index, with the Python type seen at fit.

        Raises
        ------
        RuntimeError
            If the encoder is not fitted.
        LabelLayoutError
            If ``indices`` is not of shape (N,) or (N, 1), such as probability rows.
        LabelTypeError
            If ``indices`` are not numbers.
        NonIntegerLabelError, NonFiniteLabelError, LabelRangeError
            If an index is not an integer, not finite, or outside ``0..K-1``
            (``ignore_label`` included).
        """
        self._fitted_classes()
        array = as_label_array(indices, name="indices")
        check_one_label_per_sample(array, name="indices")
        check_class_indices(array, self.num_classes, name="indices")
        objects: list[T] = self._class_objects[array.reshape(-1).astype(np.int64)].tolist()
        return objects

    def _read_labels(self, labels: Any) -> tuple[np.ndarray[Any, Any], ClassKind]:
        array = to_numpy(labels, name="labels")
        check_one_label_per_sample(array, name="labels")
        return self._read(array, "labels")


class MultiLabelEncoder(_ClassEncoder[T]):
    """Encode a set of raw labels per sample as a row of 0/1 indicators.

    Column ``i`` of the result stands for ``classes[i]``; the classes are sorted and
    keep their Python types as in :class:`LabelEncoder`. The float32 rows suit
    ``gluon.loss.SigmoidBinaryCrossEntropyLoss``.

    Parameters
    ----------
    allow_float : bool, default False
        Accept floats with a fractional part as class names; see :class:`LabelEncoder`.
    unseen : {'raise', 'ignore'}, default 'raise'
        What :meth:`transform` does with raw labels not seen at fit: raise
        :class:`~gluon_safe.errors.UnseenLabelError`, or leave them out of the rows (and
        log how many at INFO the first time, at DEBUG afterwards).

    Raises
    ------
    TypeError
        If ``allow_float`` is not a bool.
    ValueError
        If ``unseen`` is not ``'raise'`` or ``'ignore'``.

    Examples
    --------
    >>> encoder = MultiLabelEncoder().fit([["rock", "jazz"], ["pop"], []])
    >>> encoder.classes
    ('jazz', 'pop', 'rock')
    >>> encoder.transform([["pop", "jazz"]])
    array([[1., 1., 0.]], dtype=float32)
    >>> encoder.inverse_transform([[1, 0, 1]])
    [('jazz', 'rock')]
    """

    _NAME = "MultiLabelEncoder"
    _OPTION_NAMES = ("allow_float", "unseen")

    def __init__(self, *, allow_float: bool = False, unseen: UnseenPolicy = "raise") -> None:
        super().__init__(allow_float=allow_float, unseen=unseen)

    def _unseen_outcome(self) -> str:
        return "left out of the indicator rows"

    def fit(self, samples: Any) -> Self:
        """Learn the sorted classes from label sets.

        Parameters
        ----------
        samples : iterable of collections
            One list, tuple or set of raw labels per sample (possibly empty), or a
            2-D array with one row of raw labels per sample.

        Returns
        -------
        MultiLabelEncoder
            The encoder itself, fitted.

        Raises
        ------
        LabelError
            If the samples hold no labels at all, or a label is None or an empty string.
        LabelTypeError
            If ``samples`` or one sample is a single value (a string included), or the
            labels mix strings with numbers or bools with numbers.
        LabelLayoutError
            If ``samples`` is a 2-D array of 0/1 indicator rows, which are already encoded.
        NonFiniteLabelError, ContinuousLabelError
            As :meth:`LabelEncoder.fit`.
        """
        array, kind, _, _ = self._read_samples(samples)
        self._fit_unique(array, kind, "samples")
        return self

    def transform(self, samples: Any) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Map label sets to 0/1 indicator rows.

        Returns
        -------
        numpy.ndarray of float32, shape (N, K)
            Row ``n`` contains 1 in the column of each class of sample ``n``.

        Raises
        ------
        RuntimeError
            If the encoder is not fitted.
        UnseenLabelError
            If ``unseen='raise'`` and a label was not seen at fit; positions are
            ``(sample, item)``.
        LabelTypeError
            If the labels are of another type than the classes.
        LabelError, LabelLayoutError, NonFiniteLabelError, ContinuousLabelError
            As :meth:`fit`, except that samples without labels give zero rows.
        """
        self._fitted_classes()
        array, kind, origin, num_samples = self._read_samples(samples)
        return self._indicator_rows(array, kind, origin, num_samples)

    def fit_transform(self, samples: Any) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Fit on ``samples`` and return their indicator rows; see :meth:`fit`.

        ``samples`` is read once, so a generator works as well as a list.
        """
        array, kind, origin, num_samples = self._read_samples(samples)
        self._fit_unique(array, kind, "samples")
        return self._indicator_rows(array, kind, origin, num_samples)

    def inverse_transform(self, indicators: Any) -> list[tuple[T, ...]]:
        """Map 0/1 indicator rows back to tuples of raw classes, in class order.

        Parameters
        ----------
        indicators : array-like, shape (N, K)
            0/1 rows as a list, numpy array or NDArray. Threshold probabilities first,
            e.g. ``probs > 0.5``.

        Raises
        ------
        RuntimeError
            If the encoder is not fitted.
        LabelLayoutError
            If ``indicators`` is not 2-D or has a number of columns other than K.
        LabelTypeError, NonFiniteLabelError, LabelRangeError, NonIntegerLabelError
            If a value is not a number, not finite, or neither 0 nor 1.
        """
        num_classes = self.num_classes
        array = as_label_array(indicators, name="indicators")
        check_multilabel(array, num_classes, strict=True, name="indicators")
        return [tuple(self._class_objects[np.flatnonzero(row)].tolist()) for row in array]

    def _read_samples(
        self, samples: Any
    ) -> tuple[np.ndarray[Any, Any], ClassKind, np.ndarray[Any, Any], int]:
        flat, origin, num_samples = flatten_label_sets(samples, name="samples")
        array, kind = self._read(flat, "samples", origin)
        return array, kind, origin, num_samples

    def _indicator_rows(
        self,
        array: np.ndarray[Any, Any],
        kind: ClassKind,
        origin: np.ndarray[Any, Any],
        num_samples: int,
    ) -> np.ndarray[Any, np.dtype[np.float32]]:
        index, unseen = self._lookup(array, kind, "samples", origin)
        seen = ~unseen
        rows = np.zeros((num_samples, self.num_classes), dtype=np.float32)
        rows[origin[seen, 0], index[seen]] = 1.0
        return rows

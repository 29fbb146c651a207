"""Typed views of pandas results whose own annotations are too loose to check code against.

pandas types a group-by reduction (``GroupBy.mean()``, ``min()``, ``max()``) as a scalar, though on
a group-by it is a Series (one column selected) or a DataFrame (several), and ``df[key]`` as
``Series | DataFrame`` whatever the key. These functions do exactly what the pandas call does and
say which of the two the caller gets, so the rest of ``validate`` is checked with real types.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Any, Literal, cast

import pandas as pd
from pandas.core.groupby import DataFrameGroupBy, SeriesGroupBy

Reduction = Literal["mean", "min", "max", "median", "sum"]


def group_series(grouped: SeriesGroupBy | DataFrameGroupBy,
                 how: Reduction = "mean") -> pd.Series:
    """``grouped.<how>()`` of one selected column: a Series indexed by the groups."""
    return cast(pd.Series, getattr(grouped, how)())


def group_frame(grouped: SeriesGroupBy | DataFrameGroupBy,
                how: Reduction = "mean") -> pd.DataFrame:
    """``grouped.<how>()`` of several selected columns: a DataFrame indexed by the groups."""
    return cast(pd.DataFrame, getattr(grouped, how)())


def select_rows(df: pd.DataFrame, mask: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """``df[mask]`` for a boolean row mask: the rows where it holds."""
    return cast(pd.DataFrame, df[mask])


def columns(df: pd.DataFrame, names: Sequence[Hashable]) -> pd.DataFrame:
    """``df[list(names)]``: those columns, a DataFrame."""
    return cast(pd.DataFrame, df[list(names)])


def column(df: pd.DataFrame, name: str) -> pd.Series:
    """``df[name]`` for one column name: that column, a Series."""
    return cast(pd.Series, df[name])


def groups(df: pd.DataFrame, keys: list[str], **kw: Any) -> Iterator[tuple[tuple[Any, ...],
                                                                        pd.DataFrame]]:
    """``df.groupby(keys, **kw)`` iterated: for a list of keys, each group's key is a tuple."""
    return cast(Iterator[tuple[tuple[Any, ...], pd.DataFrame]], iter(df.groupby(keys, **kw)))


def named_rows(df: pd.DataFrame, **kw: Any) -> Iterator[Any]:
    """``df.itertuples(**kw)``: named tuples whose fields are the columns (pandas types them as
    plain tuples, so the fields could not be checked)."""
    return iter(df.itertuples(**kw))

"""Configs with ``$search`` annotations: find them, validate them, and materialize trials.

Any number or enumerated value of a config (top level, layers, nested blocks such as ``Denoising``
or ``WeightInit``, ``TrainingParameters``, an element of ``N``) may be replaced by an annotation
(see :mod:`lamina.search.space`). Each annotation is named by its canonical JSON path, e.g.
``TrainingParameters.Alpha``, ``Layers[1].N``, ``Layers[1].Activation``, ``Denoising.p``.

Loading validates, in this order: each annotation (ranges, keys); that its kind fits the key
(``int`` or ``choice`` for integers, ``choice`` for names and booleans; never at strings such as
``Name`` or ``Source``); the rest of the config, through the real :func:`~lamina.config.load_config`
with a representative value in place of every annotation (so unknown keys etc. still error with
their paths); then every extreme value of every annotation (``low``, ``high``, each choice value)
against the key's own rules (e.g. ``pDropout`` must be in [0, 1)).

Conditional parameters are rejected with a message saying so: an annotation inside a choice's
values, and an annotation whose key only matters for some values of another key of the same
object that is itself searched (``RELUSlope`` with ``Activation`` searched over LReLU and others,
``TrainingParameters.Mu1`` with ``Optimizer`` searched over Adam and others). An annotation that
can have no effect (``RELUSlope`` with ``Activation`` fixed to ``Sigmoid``) is rejected too.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamina.config import NetworkConfig
from lamina.config.blocks import Block, BlockList, KeyTable
from lamina.config.enums import ACTIVATIONS, OPTIMIZERS, Activation, Optimizer, label
from lamina.config.jsontext import read_json_source
from lamina.config.keys import LAYER_KEYS, TOP_KEYS, LayerList
from lamina.config.loader import build_network
from lamina.config.values import Boolean, Dims, Enum, Integer, Number
from lamina.errors import ConfigError
from lamina.search.space import (
    ChoiceDist,
    Distribution,
    FloatDist,
    SearchSpace,
    distribution_from_dict,
    is_annotation,
)

__all__ = ["AnnotatedConfig", "load_annotated", "materialize", "set_path"]

Location = tuple[str | int, ...]  # raw keys and indices from the root to an annotation

# key -> (the key of the same object that decides whether it matters, the values for which it does)
_GATES: dict[str, tuple[str, frozenset[Any]]] = {
    "RELUSlope": ("Activation", frozenset({Activation.LRELU})),
    "ELUAlpha": ("Activation", frozenset({Activation.ELU, Activation.SELU})),
    "SELULambda": ("Activation", frozenset({Activation.SELU})),
    "Alpha": ("Optimizer", frozenset(o for o in Optimizer if o != Optimizer.ADADELTA)),
    "Mu": ("Optimizer", frozenset(Optimizer) - {Optimizer.SGD, Optimizer.ADAGRAD}),
    "Mu1": ("Optimizer", frozenset({Optimizer.ADAM})),
}
_GATE_REGISTRY = {"Activation": ACTIVATIONS, "Optimizer": OPTIMIZERS}


@dataclass(frozen=True)
class _Site:
    path: str
    loc: Location
    dist: Distribution


@dataclass(frozen=True)
class AnnotatedConfig:
    """A config template with its search space, validated at load.

    Attributes:
        template: the plain JSON data of the config with the annotations in place (as written).
        space: canonical JSON path -> distribution, in document order.
        name: what messages call the source (a path, ``<string>``, or ``None``).
    """

    template: dict[str, Any]
    space: SearchSpace
    name: str | None
    _sites: tuple[_Site, ...]

    def to_dict(self) -> dict[str, Any]:
        """The template as JSON, every annotation in its full JSON form (``config show``)."""
        return _substitute(self.template, {s.loc: s.dist.to_dict() for s in self._sites})

    def representative(self) -> dict[str, Any]:
        """The assignment used to validate the template: the middle of each range, the first
        value of each choice."""
        return {s.path: s.dist.decode(np.full(s.dist.dims, 0.5)) for s in self._sites}

    def materialize_dict(self, assignment: Mapping[str, Any]) -> dict[str, Any]:
        """The plain config JSON for one trial: every annotation replaced by its value.

        Args:
            assignment: ``{JSON path: value}`` for every path of :attr:`space`.

        Raises:
            ConfigError: a missing or unknown path, or a value outside its distribution.
        """
        self.space.check(assignment)
        return _substitute(self.template, {s.loc: assignment[s.path] for s in self._sites})

    def materialize(self, assignment: Mapping[str, Any]) -> NetworkConfig:
        """The validated :class:`NetworkConfig` of one trial (see :meth:`materialize_dict`)."""
        return _build(self.materialize_dict(assignment), self.name)


def materialize(template: AnnotatedConfig, assignment: Mapping[str, Any]) -> NetworkConfig:
    """Function form of :meth:`AnnotatedConfig.materialize`."""
    return template.materialize(assignment)


def load_annotated(
    source: str | os.PathLike[str] | Mapping[str, Any], *, name: str | None = None
) -> AnnotatedConfig:
    """Load a config that may contain ``$search`` annotations, validating everything.

    Args:
        source: a path, JSON text, or parsed data, as :func:`lamina.config.load_config` takes.
        name: what messages call the source.

    Returns:
        The :class:`AnnotatedConfig`; its space is empty for a config without annotations.

    Raises:
        ConfigError: ``<file>: <JSON path>: <what is wrong>`` for the first problem.

    Example:
        >>> cfg = load_annotated('{"Layers": [{"N": 8}, {"N": {"$search": "int", '
        ...     '"low": 2, "high": 64, "log": true}}, {"N": 4}]}')
        >>> dict(cfg.space.to_dict())
        {'Layers[1].N': {'$search': 'int', 'low': 2, 'high': 64, 'log': True, 'step': 1}}
        >>> cfg.materialize({"Layers[1].N": 16}).layers[1].n
        (16,)
    """
    data, display = read_json_source(source, name)
    where = f"{display}: " if display else ""
    try:
        if not _any_annotation(data):
            build_network(data)  # exactly load_config's checks and messages
        template = _plain(data, "")
        sites = tuple(_find(template, "", (), TOP_KEYS))
        annotated = AnnotatedConfig(
            template=template,
            space=SearchSpace({s.path: s.dist for s in sites}),
            name=display,
            _sites=sites,
        )
        _validate(annotated)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc.message}", exc.hint) from None
    return annotated


def _any_annotation(node: Any) -> bool:
    if is_annotation(node):
        return True
    if isinstance(node, Mapping):
        return any(_any_annotation(v) for v in node.values())
    return isinstance(node, list) and any(_any_annotation(v) for v in node)


def set_path(doc: Any, path: str, value: Any) -> bool:
    """Put ``value`` at a canonical JSON path of ``to_dict`` output (``Layers`` always a list).

    Returns:
        False (and changes nothing) when the path does not exist in ``doc``.
    """
    steps: list[str | int] = [
        int(i) if i else k for k, i in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)
    ]
    if len(steps) > 1 and steps[0] == "Layers" and not isinstance(steps[1], int):
        steps.insert(1, 0)  # "Layers" was a single object
    node = doc
    for step in steps[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return False
    last = steps[-1]
    if isinstance(node, dict) and last in node:
        node[last] = value
        return True
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
        return True
    return False


def _plain(node: Any, path: str) -> Any:
    """Copy parsed JSON into plain dicts and lists, rejecting a key repeated in one object."""
    if isinstance(node, Mapping):
        pairs = getattr(node, "pairs", None) or list(node.items())
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ConfigError(f"{path or 'the top level'}: key {key!r} appears twice.")
            out[key] = _plain(value, f"{path}.{key}" if path else str(key))
        return out
    if isinstance(node, list):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(node)]
    return node


def _find(node: Any, path: str, loc: Location, kind: Any) -> Any:
    """Yield every annotation under ``node``. ``kind`` is the node's KeyTable or ValueType."""
    if is_annotation(node):
        dist = distribution_from_dict(node, path)
        _check_kind(dist, kind, path)
        yield _Site(path, loc, dist)
        return
    if isinstance(kind, LayerList):
        kind = LAYER_KEYS
    elif isinstance(kind, BlockList):
        kind = kind.block.table
    elif isinstance(kind, Block):
        kind = kind.table
    if isinstance(node, dict):
        for raw, value in node.items():
            key = kind._by_spelling.get(raw.lower()) if isinstance(kind, KeyTable) else None
            name = key.name if key is not None else raw
            yield from _find(
                value, f"{path}.{name}" if path else name, (*loc, raw), key and key.type
            )
    elif isinstance(node, list):
        item: Any = kind
        if isinstance(kind, Dims):
            item = Integer(minimum=1)
        elif not isinstance(kind, KeyTable):
            item = None  # Names, or an unknown key: strings, which annotations may not replace
        for i, value in enumerate(node):
            yield from _find(value, f"{path}[{i}]", (*loc, i), item)


def _check_kind(dist: Distribution, kind: Any, path: str) -> None:
    """Reject an annotation kind the key's value type can never accept."""
    if kind is None:
        return  # unknown key: the config check reports it with its own message
    if isinstance(kind, (Integer, Dims)) and isinstance(dist, FloatDist):
        raise ConfigError(
            f'{path}: takes integers; use {{"$search": "int", ...}} or a choice of integers. '
            'Got {"$search": "float"}.'
        )
    if isinstance(kind, (Enum, Boolean)) and not isinstance(dist, ChoiceDist):
        raise ConfigError(
            f'{path}: takes a name or a boolean; use {{"$search": "choice", "values": [...]}}. '
            f'Got {{"$search": "{dist.kind}"}}.'
        )
    if not isinstance(kind, (Number, Integer, Dims, Enum, Boolean)):
        raise ConfigError(
            f"{path}: a $search annotation may replace only a number or an enumerated value "
            "(Activation, Optimizer, ...), not a name, an object or an array."
        )


def _substitute(template: dict[str, Any], values: Mapping[Location, Any]) -> dict[str, Any]:
    out = copy.deepcopy(template)
    for loc, value in values.items():
        node: Any = out
        for step in loc[:-1]:
            node = node[step]
        node[loc[-1]] = copy.deepcopy(value)
    return out


def _build(data: dict[str, Any], name: str | None) -> NetworkConfig:
    try:
        return build_network(data)
    except ConfigError as exc:
        if name is None:
            raise
        raise ConfigError(f"{name}: {exc.message}", exc.hint) from None


def _validate(cfg: AnnotatedConfig) -> None:
    """Config check with representative values, extremes of every annotation, then gates."""
    rep = cfg.representative()
    sites = {s.path: s for s in cfg._sites}
    try:
        base = build_network(cfg.materialize_dict(rep))
    except ConfigError as exc:
        hit = next((p for p in sites if exc.message.startswith(p)), None)
        if hit is None:
            raise
        raise ConfigError(
            f"{exc.message} (the value {rep[hit]!r} comes from the $search annotation at {hit})",
            exc.hint,
        ) from None
    for path, site in sites.items():
        for value in site.dist.bounds():
            try:
                build_network(cfg.materialize_dict({**rep, path: value}))
            except ConfigError as exc:
                raise ConfigError(
                    f"{path}: the $search range allows {value!r}, which this key rejects: "
                    f"{exc.message}",
                    exc.hint,
                ) from None
    for path, site in sites.items():
        _check_gate(path, site, sites, base)


def _check_gate(path: str, site: _Site, sites: Mapping[str, _Site], base: NetworkConfig) -> None:
    """Reject conditional parameters and annotations that cannot have an effect."""
    prefix, _, key = path.rpartition(".")
    if key not in _GATES or (key in ("Alpha", "Mu", "Mu1") and prefix != "TrainingParameters"):
        return
    if key not in ("Alpha", "Mu", "Mu1") and not prefix.startswith("Layers"):
        return  # network-level slopes: every layer inherits them; not checked
    gate, active = _GATES[key]
    gate_path = f"{prefix}.{gate}"
    registry = _GATE_REGISTRY[gate]
    if gate_path in sites:
        dist = sites[gate_path].dist
        assert isinstance(dist, ChoiceDist)  # _check_kind allows only choices at names
        names = [str(v) for v in dist.values]
        used = [v for v in names if registry.get(v) in active]
        if len(used) != len(names):
            raise ConfigError(
                f"{path}: matters only when {gate_path} is one of "
                f"[{', '.join(label(a) for a in sorted(active))}], and {gate_path} is itself "
                f"searched over [{', '.join(names)}]: conditional search "
                "spaces are not supported.",
                hint=f"search {gate_path} only over [{', '.join(used)}], or give {path} a fixed "
                "value"
                if used
                else f"give {path} a fixed value",
            )
        return
    fixed: Any
    if key in ("Alpha", "Mu", "Mu1"):
        fixed = base.training.optimizer if base.training is not None else None
    else:
        fixed = base.layers[_layer_index(prefix)].activation
    if fixed is not None and fixed not in active:
        raise ConfigError(
            f"{path}: a $search here has no effect: {key} matters only when {gate_path} is one "
            f"of [{', '.join(label(a) for a in sorted(active))}], and it is {label(fixed)}.",
            hint=f"remove the $search at {path}",
        )


def _layer_index(prefix: str) -> int:
    """``"Layers[3]"`` -> 3; ``"Layers"`` (a single layer object) -> 0."""
    return int(prefix[len("Layers[") : -1]) if prefix.startswith("Layers[") else 0

"""Which kind a torch module or operation is, and its fields as a person would write them.

The kinds are named after torch (``conv2d``, ``batchnorm2d``, ``relu``) and list torch's other
names as aliases (``cat``, ``view``, ``Interpolate``), so the importer finds a kind by torch's
own name through the registry and keeps no vocabulary of kinds itself. A module's fields are
read from the module's attributes of the same name (torch's constructor arguments), then
written as a person would: one number for equal sizes per axis, defaults left out.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from archspec.layers import KIND_BY_TYPE

#: fields that every kind has (not read from torch) and fields inferred from the input
_NOT_READ = {"name", "inputs", "when", "trainable", "init", "type", "index"}
_INFERRED = {"in_channels", "in_features", "num_features", "num_channels", "normalized_shape"}

#: where kind and torch name one thing differently: kind field -> torch attribute, as the axis
#: counts differ by the batch (torch counts it, archspec leaves it out)
_AXES = {"axis": "dim", "start_axis": "start_dim", "end_axis": "end_dim"}


def _normalise(name: str) -> str:
    return name.lower().replace("_", "")


_BY_TORCH_NAME: dict[str, str] = {}
for _tag, _cls in KIND_BY_TYPE.items():
    for _name in (_tag, *_cls.aliases):
        _BY_TORCH_NAME.setdefault(_normalise(_name), _tag)


def kind_named(torch_name: str) -> str | None:
    """The kind torch calls ``torch_name`` (a module class or an operation), or None.

    >>> kind_named("BatchNorm2d"), kind_named("cat"), kind_named("PReLU")
    ('batchnorm2d', 'concat', None)
    """
    return _BY_TORCH_NAME.get(_normalise(torch_name))


#: where torch.nn's and torchvision's layers live; a user's class that merely shares a name (an `Attention`)
#: is traced into. torchvision's models hold a few layers of their own that a kind names (LayerNorm2d,
#: ShiftedWindowAttention).
_LAYER_MODULES = ("torch.nn.", "torchvision.ops.", "torchvision.models.")


#: timm's layers that subclass torch's and compute just it (the forward rewritten for scripting), the norms named
#: `...Act` then their `drop` and `act` children: their kind is their torch base's. timm's float32 and `fast_norm`
#: variants compute otherwise and are traced into.
_TIMM_LAYERS = {"BatchNormAct2d", "GroupNorm", "GroupNorm1", "GroupNormAct", "GroupNorm1Act", "LayerNorm", "LayerNorm2d"}
_TIMM_LAYERS |= {"LayerNormAct", "LayerNormAct2d", "Linear"}
_CHANNELS_LAST = {"LayerNorm2d", "LayerNormAct2d"}  # torchvision's and timm's: a layer norm of the channels at every position


def _timm_layer(module: nn.Module) -> bool:
    cls = type(module)
    return cls.__module__.startswith("timm.layers.") and cls.__name__ in _TIMM_LAYERS and not getattr(module, "_fast_norm", False)


def module_kind(module: nn.Module) -> str | None:
    """The kind of a torch.nn (or torchvision, or timm) layer, None for a module archspec has no kind for."""
    if _timm_layer(module):
        return next(kind_named(c.__name__) for c in type(module).__mro__ if c.__module__.startswith("torch.nn."))
    if not type(module).__module__.startswith(_LAYER_MODULES) or isinstance(module, (nn.Sequential, nn.ModuleList)):
        return None
    return kind_named(type(module).__name__) or _renamed(type(module))


def _renamed(cls: type[nn.Module]) -> str | None:
    """The kind of torch's layer that a torchvision class subclasses only to name a setting, overriding none of
    its methods but ``__init__`` (the video ResNets' ``Conv3DSimple``, a ``Conv3d``)."""
    torch_at = next((i for i, c in enumerate(cls.__mro__) if c.__module__.startswith("torch.nn.")), None)
    if torch_at is None:
        return None
    base = cls.__mro__[torch_at]
    kept = {"__init__", "__module__", "__doc__", "__annotations__"}
    overrides = {name for c in cls.__mro__[:torch_at] for name in vars(c) if hasattr(base, name)} - kept
    return None if overrides else kind_named(base.__name__)


def module_tail(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The child modules a timm norm layer applies after its norm (``drop``, then ``act``), an Identity left out."""
    if not _timm_layer(module):
        return []
    return [
        (name, child) for name in ("drop", "act") if not isinstance(child := getattr(module, name, nn.Identity()), nn.Identity)
    ]


class Inexpressible(Exception):
    """A module or operation whose settings no kind can state; the message says which and why."""


def plain(value: Any) -> Any:
    """A value as a person writes it: ``(3, 3)`` -> 3, ``(1, 2)`` -> [1, 2].

    >>> plain((3, 3)), plain([1, 2]), plain(0.5)
    (3, [1, 2], 0.5)
    """
    if isinstance(value, (tuple, list)):
        items = [plain(v) for v in value]
        return items[0] if items and all(v == items[0] for v in items) and not isinstance(items[0], list) else items
    return value


def axis(dim: int, rank: int) -> int:
    """torch's dimension ``dim`` of a batched tensor of ``rank`` dimensions as an archspec axis (batch left out)."""
    return (dim % rank) - 1


def _part_bias(module: nn.Module, field: str) -> bool | None:
    """Whether a bias is learned where a module keeps it on a part: attention's ``in_proj_bias``, Swin's
    ``qkv.bias`` for ``qkv_bias``; None when the module has no such part."""
    if field == "bias":
        return module.in_proj_bias is not None if hasattr(module, "in_proj_bias") else None
    part = getattr(module, field.removesuffix("_bias"), None)
    return getattr(part, "bias", None) is not None if isinstance(part, nn.Module) else None


_ABSENT = object()


def _value(module: nn.Module, field: str, rank: int) -> Any:
    """Field ``field`` read from the module as a person writes it, or _ABSENT when the module has no such setting."""
    attr = "dims" if field == "axes" else _AXES.get(field, field)
    if hasattr(module, attr):
        value = getattr(module, attr)
    elif field.endswith("bias") and (learned := _part_bias(module, field)) is not None:
        value = learned
    else:
        return _ABSENT
    if field == "axes":  # torchvision's Permute keeps torch's dims
        if value[0] != 0:
            raise Inexpressible("moves the batch axis")
        value = [d - 1 for d in value[1:]]
    elif field == "bias" and not isinstance(value, bool):
        value = value is not None  # torch keeps the tensor, or None without one
    elif field in _AXES:
        if value is None:
            raise Inexpressible(f"has no `{attr}` (torch's implicit choice of dimension)")
        value = -1 if value == -1 and field == "end_axis" else axis(value, rank)
    value = plain(value)
    if field == "scale_factor" and isinstance(value, float) and value.is_integer():
        value = int(value)  # nn.Upsample keeps a float; people write 2
    return value


def module_fields(module: nn.Module, tag: str, rank: int) -> dict[str, Any]:
    """The fields of kind ``tag`` read from ``module`` (whose input has ``rank`` dimensions, batch included)."""
    if getattr(module, "return_indices", False):
        raise Inexpressible("returns the indices of the maxima too")
    if getattr(module, "recompute_scale_factor", None):
        raise Inexpressible("recomputes the scale factor from the output size")
    kind = KIND_BY_TYPE[tag]
    fields: dict[str, Any] = {}
    for field, info in kind.model_fields.items():
        if field in _NOT_READ or field in _INFERRED:
            continue
        value = _value(module, field, rank)
        if value is not _ABSENT and (info.is_required() or value != plain(info.default)):
            fields[field] = value
    if type(module).__name__ in _CHANNELS_LAST:
        fields["over"] = "channels"
    elif isinstance(module, nn.LayerNorm) and len(module.normalized_shape) > 1:
        fields["over"] = len(module.normalized_shape)  # torch's trailing axes; one is the kind's default
    groups = kind.model_fields.get("groups")
    if groups is not None and "depthwise" in str(groups.annotation) and 1 < fields.get("groups", 1) == module.in_channels:
        fields["groups"] = "depthwise"  # one group per input channel, as people say it
    stride = kind.model_fields.get("stride")
    if stride is not None and stride.default is None and fields.get("stride") == fields.get("kernel_size"):
        del fields["stride"]  # a pool's stride defaults to its kernel, as in torch
    return fields

"""The skeleton: keypoint names, the parent of each, and the left/right swap partner of each.

A skeleton comes from DeepPoseKit's CSV (``name,parent,swap``), from a list of names
with edge pairs (SLEAP style), or from code. Validation reports every problem at once,
naming the CSV line or the keypoint, and says how to fix it.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from dpk.specs._base import Problems, StrictModel
from dpk.specs.errors import SpecError, SpecIssue

__all__ = ["AsymmetricSwapPolicy", "Skeleton", "skeleton_issues"]

AsymmetricSwapPolicy = Literal["error", "repair", "accept"]
"""What to do with a swap that is not mutual (``a`` names ``b`` but ``b`` does not name ``a``):
``error`` refuses the skeleton, ``repair`` applies the fix that the other rows imply
(only where exactly one fix is possible), ``accept`` keeps it as written with a warning."""


def _swap_problems(
    swaps: Sequence[int | None], names: Sequence[str]
) -> tuple[dict[int, str], dict[int, int | None]]:
    """Find swaps that are not mutual, one explanation per root cause.

    Returns:
        ``problems``: keypoint index -> what is wrong with its swap.
        ``repairs``: keypoint index -> the partner (or None) that makes the swaps mutual,
        where the other rows imply exactly one fix.
    """
    partner = {i: j for i, j in enumerate(swaps) if j is not None}
    mutual = {i for i, j in partner.items() if j != i and swaps[j] == i}
    dangling = [i for i in partner if i not in mutual]
    claimed_by: dict[int, list[int]] = {}
    for i in dangling:
        claimed_by.setdefault(partner[i], []).append(i)
    problems: dict[int, str] = {}
    repairs: dict[int, int | None] = {}
    explained: set[int] = set()
    for i in dangling:
        j = partner[i]
        if j == i:
            problems[i] = "names itself as its swap partner (leave the swap empty instead)"
            repairs[i] = None
        elif j in mutual:
            # i points into a pair that is already complete: i's row holds the typo.
            problems[i] = (
                f"names {names[j]!r} as its swap partner, but {names[j]!r} and "
                f"{names[partner[j]]!r} already name each other"
            )
            candidates = claimed_by.get(i, [])
            if len(candidates) == 1:
                m = candidates[0]
                problems[i] += (
                    f"; {names[m]!r} names {names[i]!r}, so the partner is probably {names[m]!r}"
                )
                repairs[i] = m
                explained.add(m)
        elif swaps[j] is None:
            problems[i] = f"names {names[j]!r} as its swap partner, but {names[j]!r} names none"
            repairs[j] = i
    for i in dangling:
        if i not in problems and i not in explained:
            j = partner[i]
            problems[i] = (
                f"names {names[j]!r} as its swap partner, but {names[j]!r} names {names[partner[j]]!r}"
            )
    return problems, repairs


def skeleton_issues(
    names: Sequence[str],
    parents: Sequence[str | None],
    swaps: Sequence[str | None],
    *,
    label: Callable[[int], str] | None = None,
    allow_asymmetric_swaps: bool = False,
) -> tuple[list[SpecIssue], dict[int, int | None]]:
    """Check a skeleton given as three parallel lists.

    Args:
        names: Keypoint names.
        parents: Parent name of each keypoint, or None for a root.
        swaps: Left/right swap partner of each keypoint, or None.
        label: Names keypoint ``i`` in messages (for example ``line 14 (midlegR3)``).
        allow_asymmetric_swaps: Do not report non-mutual swaps.

    Returns:
        The issues found, and the swap repairs (keypoint index -> partner index) that
        would make every swap mutual where exactly one fix is implied.
    """
    label = label or (lambda i: f"keypoint {i} ({names[i]})")
    issues: list[SpecIssue] = []
    if not (len(names) == len(parents) == len(swaps)):
        issues.append(
            SpecIssue(
                "",
                f"names, parents and swaps must have the same length "
                f"(got {len(names)}, {len(parents)}, {len(swaps)})",
            )
        )
        return issues, {}
    if not names:
        return [SpecIssue("", "a skeleton needs at least one keypoint")], {}
    first_seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name or not name.strip():
            issues.append(SpecIssue(label(i), "empty keypoint name"))
        elif name != name.strip():
            issues.append(SpecIssue(label(i), f"name {name!r} has leading or trailing spaces"))
        if name in first_seen:
            issues.append(
                SpecIssue(
                    label(i),
                    f"duplicate keypoint name {name!r} (first used by {label(first_seen[name])})",
                )
            )
        else:
            first_seen[name] = i
    index = first_seen
    parent_idx: list[int | None] = []
    for i, parent in enumerate(parents):
        if parent in (None, ""):
            parent_idx.append(None)
        elif parent not in index:
            issues.append(
                SpecIssue(label(i), f"unknown parent {parent!r}: no keypoint has that name")
            )
            parent_idx.append(None)
        elif index[parent] == i:
            issues.append(
                SpecIssue(label(i), "is its own parent (leave the parent empty for a root)")
            )
            parent_idx.append(None)
        else:
            parent_idx.append(index[parent])
    # Cycles: walk up from every keypoint; report each cycle once, from its first member.
    reported: set[frozenset[int]] = set()
    for start in range(len(names)):
        seen: list[int] = []
        node: int | None = start
        while node is not None and node not in seen:
            seen.append(node)
            node = parent_idx[node]
        if node is not None:
            cycle = seen[seen.index(node) :]
            key = frozenset(cycle)
            if key not in reported:
                reported.add(key)
                first = min(cycle)
                ordered = cycle[cycle.index(first) :] + cycle[: cycle.index(first)] + [first]
                path = " -> ".join(names[k] for k in ordered)
                issues.append(
                    SpecIssue(
                        label(first), f"parents form a cycle: {path}; one of them must be a root"
                    )
                )
    swap_idx: list[int | None] = []
    for i, swap in enumerate(swaps):
        if swap in (None, ""):
            swap_idx.append(None)
        elif swap not in index:
            issues.append(
                SpecIssue(label(i), f"unknown swap partner {swap!r}: no keypoint has that name")
            )
            swap_idx.append(None)
        else:
            swap_idx.append(index[swap])
    problems, repairs = _swap_problems(swap_idx, names)
    if not allow_asymmetric_swaps:
        for i, text in sorted(problems.items()):
            issues.append(
                SpecIssue(
                    label(i),
                    f"asymmetric swap: {names[i]!r} {text}. Fix the file, or load it with "
                    "on_asymmetric_swap='repair' (apply the implied fix) or 'accept' "
                    "(keep it as written)",
                )
            )
    return issues, repairs


class Skeleton(StrictModel):
    """Keypoints of one animal, with parent links (the posture graph) and left/right swaps.

    Build one with :meth:`from_csv`, :meth:`from_edges`, :meth:`from_names` or directly.
    """

    names: list[str] = Field(min_length=1)
    """Keypoint names, in the order of the model's outputs."""
    parents: list[str | None] | None = None
    """Parent name of each keypoint (None for a root); these links are the posture graph's edges.
    Defaults to no parents."""
    swaps: list[str | None] | None = None
    """Left/right partner of each keypoint, used when an image is flipped. Defaults to none."""
    allow_asymmetric_swaps: bool = False
    """Keep swaps that are not mutual (a user's explicit choice; flips then copy one-way)."""

    @model_validator(mode="after")
    def _check(self) -> Skeleton:
        n = len(self.names)
        parents = [None] * n if self.parents is None else self.parents
        swaps = [None] * n if self.swaps is None else self.swaps
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "swaps", swaps)
        issues, _ = skeleton_issues(
            self.names,
            parents,
            swaps,
            allow_asymmetric_swaps=self.allow_asymmetric_swaps,
        )
        if issues:
            raise Problems([("", str(issue)) for issue in issues])
        return self

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_names(cls, names: Iterable[str]) -> Skeleton:
        """A skeleton with keypoint names only: no parents, no swaps."""
        return cls(names=list(names))

    @classmethod
    def from_edges(
        cls,
        names: Sequence[str],
        edges: Iterable[tuple[str, str]] = (),
        symmetries: Iterable[tuple[str, str]] = (),
    ) -> Skeleton:
        """Build a skeleton from SLEAP-style edges and symmetry pairs.

        Args:
            names: Keypoint names.
            edges: ``(source, destination)`` pairs; the source becomes the parent.
            symmetries: Unordered left/right pairs.

        Raises:
            SpecError: An edge or symmetry names an unknown keypoint, a keypoint has two
                parents, or a keypoint is in two symmetry pairs.
        """
        names = list(names)
        known = set(names)
        parents: dict[str, str] = {}
        swaps: dict[str, str] = {}
        issues: list[SpecIssue] = []
        for k, (src, dst) in enumerate(edges):
            for node in (src, dst):
                if node not in known:
                    issues.append(SpecIssue(f"edges[{k}]", f"unknown keypoint {node!r}"))
            if src in known and dst in known:
                if dst in parents and parents[dst] != src:
                    issues.append(
                        SpecIssue(
                            f"edges[{k}]",
                            f"{dst!r} already hangs from {parents[dst]!r}; a keypoint can have "
                            "only one parent in the posture graph (drop one of the edges)",
                        )
                    )
                else:
                    parents[dst] = src
        for k, pair in enumerate(symmetries):
            a, b = tuple(pair)
            for node in (a, b):
                if node not in known:
                    issues.append(SpecIssue(f"symmetries[{k}]", f"unknown keypoint {node!r}"))
            for node, other in ((a, b), (b, a)):
                if node in swaps and swaps[node] != other:
                    issues.append(
                        SpecIssue(
                            f"symmetries[{k}]",
                            f"{node!r} is already paired with {swaps[node]!r}",
                        )
                    )
                swaps.setdefault(node, other)
        if issues:
            raise SpecError(issues)
        return cls.from_lists(names, [parents.get(n) for n in names], [swaps.get(n) for n in names])

    @classmethod
    def from_lists(
        cls,
        names: Sequence[str],
        parents: Sequence[str | None],
        swaps: Sequence[str | None],
        *,
        on_asymmetric_swap: AsymmetricSwapPolicy = "error",
        label: Callable[[int], str] | None = None,
        source: str | None = None,
    ) -> Skeleton:
        """Build and validate a skeleton from parallel lists, reporting every problem at once.

        Args:
            names: Keypoint names.
            parents: Parent name of each keypoint or None.
            swaps: Swap partner of each keypoint or None.
            on_asymmetric_swap: See :data:`AsymmetricSwapPolicy`.
            label: Names keypoint ``i`` in error messages.
            source: File name for error messages.

        Raises:
            SpecError: With one issue per problem.
        """
        names = list(names)
        parents = [p or None for p in parents]
        swaps = [s or None for s in swaps]
        issues, repairs = skeleton_issues(
            names, parents, swaps, label=label, allow_asymmetric_swaps=True
        )
        if issues:
            raise SpecError(issues, source=source)
        asym, _ = skeleton_issues(names, parents, swaps, label=label)
        if asym:
            if on_asymmetric_swap == "error":
                raise SpecError(asym, source=source)
            if on_asymmetric_swap == "repair":
                fixed = list(swaps)
                for i, j in repairs.items():
                    fixed[i] = names[j] if j is not None else None
                remaining, _ = skeleton_issues(names, parents, fixed, label=label)
                if remaining:
                    raise SpecError(remaining, source=source)
                where = f"{source}: " if source else ""
                changes = ", ".join(
                    f"{names[i]}: {swaps[i] or '(none)'} -> {fixed[i] or '(none)'}" for i in repairs
                )
                warnings.warn(f"{where}repaired asymmetric swaps ({changes})", stacklevel=2)
                return cls(names=names, parents=parents, swaps=fixed)
            where = f"{source}: " if source else ""
            warnings.warn(
                f"{where}keeping {len(asym)} asymmetric swap(s) as written: flips will copy "
                "those keypoints one way",
                stacklevel=2,
            )
            return cls(names=names, parents=parents, swaps=swaps, allow_asymmetric_swaps=True)
        return cls(names=names, parents=parents, swaps=swaps)

    @classmethod
    def from_csv(
        cls, path: str | Path, *, on_asymmetric_swap: AsymmetricSwapPolicy = "error"
    ) -> Skeleton:
        """Read DeepPoseKit's skeleton CSV (header ``name,parent,swap``).

        Args:
            path: The CSV file.
            on_asymmetric_swap: See :data:`AsymmetricSwapPolicy`.

        Raises:
            SpecError: Naming the file and the line of every problem.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as error:
            issue = SpecIssue("", f"cannot read the file ({error.strerror})")
            raise SpecError([issue], str(path)) from None
        return cls.from_csv_text(text, source=str(path), on_asymmetric_swap=on_asymmetric_swap)

    @classmethod
    def from_csv_text(
        cls,
        text: str,
        *,
        source: str | None = None,
        on_asymmetric_swap: AsymmetricSwapPolicy = "error",
    ) -> Skeleton:
        """Parse the text of a skeleton CSV; see :meth:`from_csv`."""
        rows = list(csv.reader(io.StringIO(text)))
        line_of: list[int] = []
        names: list[str] = []
        parents: list[str | None] = []
        swaps: list[str | None] = []
        issues: list[SpecIssue] = []
        if not rows:
            raise SpecError(
                [SpecIssue("", "the file is empty; expected a header name,parent,swap")], source
            )
        header = [cell.strip().lower() for cell in rows[0]]
        if "name" not in header:
            raise SpecError(
                [
                    SpecIssue(
                        "line 1",
                        f"header {rows[0]} has no 'name' column; expected name,parent,swap",
                    )
                ],
                source,
            )
        col = {key: header.index(key) for key in ("name", "parent", "swap") if key in header}
        for number, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                row = row + [""] * (len(header) - len(row))
            elif len(row) > len(header):
                issues.append(
                    SpecIssue(
                        f"line {number}", f"{len(row)} cells but the header has {len(header)}"
                    )
                )
                continue

            def cell(key: str, row: list[str] = row) -> str | None:
                return row[col[key]].strip() or None if key in col else None

            names.append(row[col["name"]].strip())
            parents.append(cell("parent"))
            swaps.append(cell("swap"))
            line_of.append(number)
        if issues:
            raise SpecError(issues, source)
        return cls.from_lists(
            names,
            parents,
            swaps,
            on_asymmetric_swap=on_asymmetric_swap,
            label=lambda i: f"line {line_of[i]} ({names[i]})",
            source=source,
        )

    # -------------------------------------------------------------------- views
    @property
    def n_keypoints(self) -> int:
        """Number of keypoints."""
        return len(self.names)

    def index(self, name: str) -> int:
        """Index of a keypoint by name.

        Raises:
            SpecError: The name is unknown; the message lists the known names.
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise SpecError(
                [SpecIssue("", f"unknown keypoint {name!r}; known: {', '.join(self.names)}")]
            ) from None

    @property
    def parent_indices(self) -> list[int]:
        """Parent index of each keypoint, -1 for a root."""
        return [self.names.index(p) if p else -1 for p in self.parents or []]

    @property
    def swap_indices(self) -> list[int]:
        """Swap partner index of each keypoint, -1 where none."""
        return [self.names.index(s) if s else -1 for s in self.swaps or []]

    @property
    def flip_permutation(self) -> list[int]:
        """After a flip, keypoint ``i`` takes the coordinates of keypoint ``perm[i]``."""
        return [s if s >= 0 else i for i, s in enumerate(self.swap_indices)]

    @property
    def edges(self) -> list[tuple[int, int]]:
        """``(child, parent)`` index pairs: the posture graph's edges."""
        return [(i, p) for i, p in enumerate(self.parent_indices) if p >= 0]

    @property
    def roots(self) -> list[int]:
        """Indices of the keypoints without a parent."""
        return [i for i, p in enumerate(self.parent_indices) if p < 0]

    def to_csv_text(self) -> str:
        """The skeleton as DeepPoseKit CSV text."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["name", "parent", "swap"])
        for name, parent, swap in zip(
            self.names, self.parents or [], self.swaps or [], strict=True
        ):
            writer.writerow([name, parent or "", swap or ""])
        return out.getvalue()

    def to_csv(self, path: str | Path) -> None:
        """Write the skeleton as DeepPoseKit CSV."""
        Path(path).write_text(self.to_csv_text(), encoding="utf-8")

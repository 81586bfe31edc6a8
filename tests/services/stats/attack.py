"""The attacker of the open aggregates: every allowed answer of a year (each whole period, each
area at each level) and the sums the attacker knows (a half is its quarters, the year its
halves; a province is its wards, the nation its provinces; the form's additive groups), solved
exactly over the rationals for the hidden cells."""

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

Cell = tuple[str, str, str]  # (row, area, period)
Sums = Sequence[tuple[str, Sequence[str]]]  # (total, parts)

QUARTERS_HALVES_YEAR: Sums = (("Y", ("H1", "H2")), ("H1", ("Q1", "Q2")), ("H2", ("Q3", "Q4")))


def equations(
    shown: Mapping[Cell, int | None], rows: Sums, areas: Sums, periods: Sums
) -> list[tuple[dict[Cell, Fraction], Fraction]]:
    """Every sum along one axis at every point of the other two, as Σ coefficient·hidden = constant
    (the shown cells moved to the constant); a cell nobody shows counts as zero."""
    names = [sorted({n for total, parts in sums for n in (total, *parts)}
                    | {cell[axis] for cell in shown})
             for axis, sums in enumerate((rows, areas, periods))]  # fmt: skip
    found = []
    for axis, sums in enumerate((rows, areas, periods)):
        others = [names[a] for a in range(3) if a != axis]
        for first in others[0]:
            for second in others[1]:
                for total, parts in sums:

                    def at(node: str, axis: int = axis, first: str = first,
                           second: str = second) -> Cell:  # fmt: skip
                        point = [first, second]
                        point.insert(axis, node)
                        return (point[0], point[1], point[2])

                    terms = [(at(total), Fraction(1)), *((at(p), Fraction(-1)) for p in parts)]
                    unknown: dict[Cell, Fraction] = {}
                    constant = Fraction(0)
                    for cell, sign in terms:
                        value = shown.get(cell, 0)
                        if value is None:
                            unknown[cell] = unknown.get(cell, Fraction(0)) + sign
                        else:
                            constant -= sign * value
                    if any(unknown.values()):
                        found.append((unknown, constant))
    return found


def determined(system: Iterable[tuple[dict[Cell, Fraction], Fraction]]) -> set[Cell]:
    """The unknowns the system fixes: those whose unit vector is a row of the reduced row echelon
    form (a unit vector in the row space has zeros at every other pivot, so it is a pivot row)."""
    pivots: dict[Cell, dict[Cell, Fraction]] = {}
    for given, _ in system:
        row = {cell: value for cell, value in given.items() if value}
        for cell, pivot_row in pivots.items():
            if cell in row:
                factor = row[cell]
                for other, value in pivot_row.items():
                    row[other] = row.get(other, Fraction(0)) - factor * value
                row = {c: v for c, v in row.items() if v}
        if not row:
            continue
        lead = min(row)
        scale = row[lead]
        row = {c: v / scale for c, v in row.items()}
        for other in pivots.values():  # keep the form reduced: no other row uses the new pivot
            if lead in other:
                factor = other[lead]
                for c, v in row.items():
                    other[c] = other.get(c, Fraction(0)) - factor * v
                for c in [c for c, v in other.items() if not v]:
                    del other[c]
        pivots[lead] = row
    return {cell for cell, row in pivots.items() if len(row) == 1}

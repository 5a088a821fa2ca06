"""Printing registries for people: ``ln.view()``, the latest records of every registry.

Each table fits the terminal through :mod:`lamin_flows.registry.listing`; the folder tree of a
storage (``File.tree()``) is :mod:`lamin_flows.registry.tree`.
"""

from __future__ import annotations

from lamin_flows.registry.listing import GLANCE, Listing, listing_of, plural


def view_listings(n: int = 7, registries: list[str] | None = None) -> list[Listing]:
    """The latest ``n`` records of every registry (or of the named ones), as listings."""
    from lamin_flows.registry.tables import REGISTRIES

    unknown = [r for r in registries or [] if r not in REGISTRIES]
    if unknown:
        from lamin_flows.errors import ValidationError

        raise ValidationError(
            f"no registry called {', '.join(map(repr, unknown))}; registries: {', '.join(REGISTRIES)}"
        )
    listings = []
    for name, cls in REGISTRIES.items():
        if registries and name not in registries:
            continue
        query = cls.select()
        total = query.count()
        if total == 0:
            continue
        latest = min(n, total)
        title = f"{name}: {plural(total, 'record')}" + (f", latest {latest}" if latest < total else "")
        listings.append(
            listing_of(query.order_by("-created_at").limit(n), list(GLANCE[name]), total=total, title=title)
        )
    return listings


def view(n: int = 7, registries: list[str] | None = None, *, width: int | None = None) -> None:
    """Print the latest ``n`` records of every registry (or of the named ones).

    Each table fits the terminal (or ``width``) columns: the most important columns are kept,
    ids are shortened, sizes and times are made readable.

    Example:
        >>> ln.view()
        >>> ln.view(3, ["File", "Run"])
    """
    for listing in view_listings(n, registries):
        listing.note = ""  # the title already says "latest n"
        print(listing.render(width))
        print()

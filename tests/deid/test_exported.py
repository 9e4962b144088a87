"""medbridge.deid exports a sorted ``__all__`` whose names all exist."""

from __future__ import annotations

import medbridge.deid


class TestExported:
    def test_all_sorted_and_present(self):
        """Every name in ``__all__`` is defined, and the list is sorted."""
        names = medbridge.deid.__all__
        assert names == sorted(names)
        assert all(hasattr(medbridge.deid, n) for n in names)

"""A run as one HTML page: its rounds, drafts, workspaces and budgets (`pdr view`). What the page shows
is worked out in `page`; how it looks is in `templates/` (Jinja2) and `static/` (its style and script,
inlined: the page fetches nothing)."""

from langgraph_pdr.view.page import (
    USES_DISTILLER,
    USES_KAPPA,
    PageModel,
    esc,
    grade,
    render_result_html,
    render_run_html,
    run_gold,
    safe_name,
    stage_maxima,
    totals_by_role_and_round,
    write_run_html,
)

__all__ = [
    "USES_DISTILLER",
    "USES_KAPPA",
    "PageModel",
    "esc",
    "grade",
    "render_result_html",
    "render_run_html",
    "run_gold",
    "safe_name",
    "stage_maxima",
    "totals_by_role_and_round",
    "write_run_html",
]

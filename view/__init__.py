"""A run as one HTML page: its rounds, drafts, workspaces and budgets (`pdr view`)."""

from langgraph_pdr.view.page import (
    CSS,
    SCRIPT,
    USES_DISTILLER,
    USES_KAPPA,
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
    "CSS",
    "SCRIPT",
    "USES_DISTILLER",
    "USES_KAPPA",
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

"""Picking answers: reading a draft's answer, votes and tallies (`answer_votes`), how checks rank drafts
and pick the answer (`check_rank`), and grading an answer against a gold one (`answer_grading`)."""

"""Picking answers: reading a draft's answer, votes and tallies (`answer_votes`), and grading an answer
against a gold one (`answer_grading`)."""

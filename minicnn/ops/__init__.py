"""The differentiable ops: one Function subclass each, forward next to backward."""

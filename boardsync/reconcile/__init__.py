"""Reconcile: observe the boards, plan the changes (pure), check the plan is safe, and apply
it one journaled change at a time. The same `reconcile()` serves the command and the daemon."""

"""Agenda files that ship with confsvc (installed as confsvc.agendas)."""

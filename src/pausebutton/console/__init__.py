"""The web console: a world map of chips, the pause page with live K-of-N progress and
delivery, and sign-in with the keys people already hold (docs/console.md).

It sits above the authority (import-linter ``layers``): ``create_console_app(settings)``
builds the authority's application and adds the console's pages, JSON and static files.
Everything it shows is read from the authority's tables; the only action it offers
(a member signing a proposal) goes through the authority's own service.
"""

from __future__ import annotations

from pausebutton.console.app import console_app_from_env, create_console_app, mount

__all__ = ["console_app_from_env", "create_console_app", "mount"]

"""The API documentation page (Swagger UI served by the platform itself, no CDN).

drf-spectacular's split view loads its start-up script from a second request, so the page
needs no inline script; our template also drops the inline ``<style>`` block, so the page runs
under the site's Content Security Policy (``script-src 'self'``, ``style-src 'self'``).
"""

from __future__ import annotations

from drf_spectacular.views import SpectacularSwaggerSplitView


class ApiDocsView(SpectacularSwaggerSplitView):
    template_name = "common/api/swagger_ui.html"

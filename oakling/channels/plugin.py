"""The Channels plugin: the channel layer from settings, bound to the app's life."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oakling.exceptions import ImproperlyConfigured

from .layer import (
    DEFAULT_MAX_QUEUE,
    DEFAULT_PREFIX,
    DEFAULT_REPLAY,
    DEFAULT_REPLAY_TTL,
    ChannelLayer,
    set_channel_layer,
)

if TYPE_CHECKING:
    from oakling.applications import App

__all__ = ["Channels"]


class Channels:
    """Publish/subscribe for an app: the ``oakling.channels`` plugin.

    ``App(plugins=[Channels()])`` makes the process's
    :class:`~oakling.channels.ChannelLayer` from settings, starts it at
    startup (on the server's event loop) and closes it at shutdown, which
    ends every open stream. It is ``app.extensions["channels"]``; its layer
    is ``.layer`` (and :func:`~oakling.channels.get_channel_layer`).

    Settings (``OAKLING_`` prefix in the environment):

    - ``CHANNELS_URL``: ``memory://`` (default: one process) or
      ``redis://host:port/db`` (every worker and host);
    - ``CHANNELS_MAX_QUEUE``: messages a subscriber may fall behind before
      it is dropped (default 100);
    - ``CHANNELS_REPLAY``: messages kept per channel for ``Last-Event-ID``
      (default 100);
    - ``CHANNELS_REPLAY_TTL``: seconds a channel's buffer outlives its last
      message (default 3600);
    - ``CHANNELS_PREFIX``: prefix of the Redis keys and pub/sub channels
      (default ``oakling:channels:``), for apps sharing one Redis database.

    Args:
        url, max_queue, replay, replay_ttl: Override the settings.

    Raises:
        ImproperlyConfigured: From ``install``, for a bad URL or limit.
    """

    name = "channels"

    def __init__(
        self,
        url: str | None = None,
        *,
        max_queue: int | None = None,
        replay: int | None = None,
        replay_ttl: float | None = None,
    ) -> None:
        self._given = (url, max_queue, replay, replay_ttl)
        self.layer: ChannelLayer | None = None

    def install(self, app: App) -> None:
        """Make the layer and register its startup and shutdown."""
        existing = app.extensions.get(self.name)
        if existing is not None and existing is not self:
            raise ImproperlyConfigured("the app already has Channels installed")
        url, max_queue, replay, replay_ttl = self._given
        settings = app.settings
        try:
            layer = ChannelLayer(
                url or settings.get("CHANNELS_URL", None),
                max_queue=max_queue
                or settings.get("CHANNELS_MAX_QUEUE", DEFAULT_MAX_QUEUE, cast=int),
                replay=replay or settings.get("CHANNELS_REPLAY", DEFAULT_REPLAY, cast=int),
                replay_ttl=replay_ttl
                or settings.get("CHANNELS_REPLAY_TTL", DEFAULT_REPLAY_TTL, cast=float),
                prefix=settings.get("CHANNELS_PREFIX", DEFAULT_PREFIX, cast=str),
            )
        except (TypeError, ValueError) as ex:
            raise ImproperlyConfigured(f"CHANNELS_* settings: {ex}") from ex
        self.layer = layer
        set_channel_layer(layer)
        app.extensions[self.name] = self
        app.on_startup(layer.start)
        app.on_shutdown(layer.close)

    def __repr__(self) -> str:
        return f"<Channels {self.layer.url if self.layer else 'not installed'}>"

"""
The small-room bench's feed from GStreamer, one pipeline shape for every server: snow drawn small
and scaled to 320x240 at 30 fps (VP8, ~60 packets a second: small snow keeps vp8enc near its
target, full-size snow does not) and a 48 kHz tone (Opus, 20 ms frames: 50 packets a second),
the libwebrtc publisher's rates in bench/rooms.ts. Sent either as plain RTP (VP8 pt 100, Opus
pt 111) to a Janus streaming mountpoint, or over WHIP (webrtcbin, the offer POSTed here) to
lancast. Run with Debian's python3 (python3-gi, gir1.2-gst-plugins-bad-1.0) and, for WHIP, with
LD_PRELOAD of the lo-as-iface shim so libnice gathers 127.0.0.1 only.

  /usr/bin/python3 bench/relay/gst-feed.py rtp <host> <video port> <audio port>
  /usr/bin/python3 bench/relay/gst-feed.py whip <whip url> <bearer token>

It prints one JSON line once media flows ({"status": 201} for WHIP, {"status": 0} for RTP), an
error line and exits non-zero on failure, and stops (deleting its WHIP resource) on SIGTERM or
when its stdin closes.
"""
import json
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstWebRTC', '1.0')
gi.require_version('GstSdp', '1.0')
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

SOURCES = (
    'videotestsrc is-live=true pattern=snow ! video/x-raw,width=40,height=30,framerate=30/1 '
    '! videoscale ! video/x-raw,width=320,height=240 ! videoconvert '
    '! vp8enc deadline=1 cpu-used=8 target-bitrate=300000 keyframe-max-dist=60 threads=1 '
    '! rtpvp8pay pt=100 mtu=1200 picture-id-mode=15-bit ! {video} '
    'audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! audioconvert ! audioresample '
    '! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20 bitrate=64000 '
    '! rtpopuspay pt=111 ! {audio}'
)


def say(message):
    print(json.dumps(message), flush=True)


def fail(message):
    # os._exit: sys.exit's exception would not leave a GLib callback.
    say({'status': -1, 'error': message})
    os._exit(1)


def rtp(host, video_port, audio_port):
    return Gst.parse_launch(SOURCES.format(
        video=f'udpsink host={host} port={video_port} sync=false async=false bind-address=127.0.0.1',
        audio=f'udpsink host={host} port={audio_port} sync=false async=false bind-address=127.0.0.1',
    ))


class Whip:
    """webrtcbin publishing to a WHIP endpoint: one offer with every candidate, no trickle."""

    def __init__(self, url, token):
        self.url = url
        self.token = token
        self.location = None
        self.pipeline = Gst.parse_launch(SOURCES.format(
            video='application/x-rtp,media=video,encoding-name=VP8,payload=100,clock-rate=90000 ! send.',
            audio='application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! send.',
        ) + ' webrtcbin name=send bundle-policy=max-bundle')
        self.bin = self.pipeline.get_by_name('send')
        # No UPnP (it opens a multicast socket) and no ICE-TCP: 127.0.0.1 over UDP only. The ICE
        # object has no typelib, and its Python wrapper takes webrtcbin's (floating) reference:
        # kept here for the pipeline's life, or the object would go with the wrapper.
        self.ice = self.bin.get_property('ice-agent')
        self.ice.set_property('ice-tcp', False)
        self.nice = self.ice.get_property('agent')
        self.nice.set_property('upnp', False)
        self.bin.connect('on-negotiation-needed', self.negotiate)
        self.bin.connect('notify::ice-gathering-state', self.gathered)
        self.offered = False

    def negotiate(self, _bin):
        if not self.offered:
            self.offered = True
            self.offer()

    def offer(self):
        promise = Gst.Promise.new_with_change_func(self.created, None)
        self.bin.emit('create-offer', None, promise)
        return False

    def created(self, promise, _data):
        # Until the payloaders' caps reach webrtcbin there is nothing to offer: try again shortly.
        reply = promise.get_reply()
        offer = reply.get_value('offer') if reply and reply.has_field('offer') else None
        if offer is None:
            GLib.timeout_add(200, self.offer)
            return
        self.bin.emit('set-local-description', offer, Gst.Promise.new())

    def gathered(self, _bin, _pspec):
        if self.bin.get_property('ice-gathering-state') != GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            return
        GLib.idle_add(self.post)

    def post(self):
        sdp = self.bin.get_property('local-description').sdp.as_text()
        request = urllib.request.Request(self.url, data=sdp.encode(), method='POST', headers={
            'content-type': 'application/sdp', 'authorization': f'Bearer {self.token}'})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, answer = response.status, response.read().decode()
                self.location = urllib.parse.urljoin(self.url, response.headers.get('location') or '')
        except urllib.error.HTTPError as err:
            fail(f'WHIP POST answered {err.code}: {err.read().decode()[:300]}')
        except OSError as err:
            fail(f'WHIP POST failed: {err}')
        _, message = GstSdp.SDPMessage.new_from_text(answer)
        description = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, message)
        self.bin.emit('set-remote-description', description, Gst.Promise.new())
        say({'status': status})
        return False

    def stop(self):
        if self.location:
            try:
                urllib.request.urlopen(urllib.request.Request(self.location, method='DELETE'), timeout=5)
            except OSError:
                pass


def main():
    Gst.init(None)
    mode, args = sys.argv[1], sys.argv[2:]
    whip = Whip(*args) if mode == 'whip' else None
    pipeline = whip.pipeline if whip else rtp(args[0], int(args[1]), int(args[2]))
    loop = GLib.MainLoop()

    def on_message(_bus, message):
        if message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            fail(f'{error.message} ({debug})')

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect('message', on_message)

    def stop(*_):
        if whip:
            whip.stop()
        pipeline.set_state(Gst.State.NULL)
        loop.quit()

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, stop)
    # stdin closes when the bench that started this process ends, however it ends: stop with it.
    GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IO_HUP | GLib.IO_IN, lambda *_: stop() or False)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        fail('the pipeline would not play')
    if not whip:
        say({'status': 0})
    loop.run()


main()

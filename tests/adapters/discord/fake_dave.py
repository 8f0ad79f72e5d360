"""The fake voice server's DAVE side: the MLS external sender, and a member it controls.

DAVE (Discord's audio/video end-to-end encryption) runs an MLS group per voice channel
(ciphersuite 2: P-256, AES-128-GCM, SHA-256); the voice gateway is the group's *external
sender*: it announces its signature key and credential (op 25), collects every member's key
package (op 26), and proposes adding members (op 27) with Add proposals it signs itself. A
client commits the proposals (op 28: commit and welcome), the gateway announces the commit
(op 29) and sends the welcome to the members it adds (op 30), and the transition executes
(op 23 ready -> op 22 execute).

Two flows (``FakeVoiceServer(dave_flow=...)``): ``"commit"``, the bot is alone and commits the
listener's addition; ``"welcome"``, the listener is there first, commits the bot's addition itself
and the bot joins with the welcome (op 30). ``remove_listener`` makes the listener leave: an external
``Remove`` proposal the bot commits, after which its frames are sealed for a new epoch.
``downgrade`` (op 21 with ``protocol_version`` 0, op 23 -> op 22) turns end-to-end encryption off
(passthrough: transport encryption only); ``upgrade`` (op 24 with epoch 1: a new MLS group, the
external sender announced again, the bot's key package, the listener's addition committed) turns
it back on. ``FakeVoiceServer.revoke_proposals`` withdraws the listener's Add proposal once the bot
has committed it (op 27 with operation ``revoke`` and the proposal's reference, as when a member
leaves before the commit is announced), then proposes the listener again with a new key package.

``FakeVoiceServer(members=N)`` puts N - 1 more members the fake controls in the channel (commit flow):
their Add proposals go in the same op 27 as the listener's, and the bot's one welcome admits them all.
Each member can also *speak* (:mod:`tests.adapters.discord.fake_speaker`): its frames are encrypted
with its own sender key (``encrypt_opus``), which the bot opens with ``decrypt(member_id, ...)``.

Here the member is a second ``davey.DaveSession`` the fake holds (the same library as the bot's,
other side of the group): once it processes the bot's welcome it decrypts the bot's
end-to-end-encrypted Opus frames (``decrypt``), so the tests hear what real listeners would.
The Add proposal is an RFC 9420 ``MLSMessage`` (``PublicMessage`` from an external sender,
``sender_index`` 0, signed with ``SignWithLabel("FramedContentTBS")``, ECDSA P-256 / SHA-256,
DER); the group id is the channel id as 8 big-endian bytes, as ``davey`` builds it.
"""

from __future__ import annotations

import hashlib
import struct
from typing import TYPE_CHECKING, Any

import davey
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

if TYPE_CHECKING:
    from tests.adapters.discord.fake_voice import FakeVoiceServer, VoiceSession

LISTENER_ID = 700000000000000777  # the member the fake controls (a user in the channel)
EXTRA_MEMBER_IDS = tuple(700000000000000778 + i for i in range(7))  # further members (FakeVoiceServer(members=N))
DAVE_MAGIC = b"\xfa\xfa"  # a DAVE-encrypted frame ends with this marker
EXTERNAL_SENDER, KEY_PACKAGE, PROPOSALS, COMMIT_WELCOME, ANNOUNCE_COMMIT, WELCOME = 25, 26, 27, 28, 29, 30
PREPARE_TRANSITION, EXECUTE_TRANSITION, PREPARE_EPOCH = 21, 22, 24
MLS10, PUBLIC_MESSAGE, CIPHER_SUITE = 1, 1, 2  # DHKEMP256_AES128GCM_SHA256_P256


def vec(data: bytes) -> bytes:
    """An MLS variable-length vector (RFC 9420 section 2.1.2: 1, 2 or 4-byte length prefix)."""
    n = len(data)
    if n < 1 << 6:
        return bytes([n]) + data
    if n < 1 << 14:
        return (0x4000 | n).to_bytes(2, "big") + data
    return (0x80000000 | n).to_bytes(4, "big") + data


def proposal_ref(message: bytes) -> bytes:
    """A proposal's reference (RFC 9420 5.2: ``RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent)``).

    For a ``PublicMessage`` from an external sender the ``AuthenticatedContent`` is the message without
    its protocol version: wire format, framed content and signature.
    """
    return hashlib.sha256(vec(b"MLS 1.0 Proposal Reference") + vec(message[2:])).digest()


class ExternalSender:
    """The voice gateway's MLS identity: a P-256 signature key and a basic credential."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                         serialization.PublicFormat.UncompressedPoint)

    def package(self) -> bytes:
        """``ExternalSender { SignaturePublicKey signature_key; Credential credential (basic) }``."""
        return vec(self.public) + struct.pack(">H", 1) + vec(b"voice-gateway")

    def add_proposal(self, group_id: bytes, epoch: int, key_package: bytes) -> bytes:
        """An ``MLSMessage`` carrying a signed external ``Add`` proposal for ``key_package``."""
        return self._proposal(group_id, epoch, struct.pack(">H", 1) + key_package)  # Add

    def remove_proposal(self, group_id: bytes, epoch: int, leaf_index: int) -> bytes:
        """An ``MLSMessage`` carrying a signed external ``Remove`` proposal for the member at ``leaf_index``."""
        return self._proposal(group_id, epoch, struct.pack(">HI", 3, leaf_index))  # Remove

    def _proposal(self, group_id: bytes, epoch: int, proposal: bytes) -> bytes:
        content = (vec(group_id) + struct.pack(">Q", epoch)
                   + bytes([2]) + struct.pack(">I", 0)  # sender: external, sender_index 0
                   + vec(b"")  # authenticated_data
                   + bytes([2]) + proposal)  # content_type proposal
        tbs = struct.pack(">HH", MLS10, PUBLIC_MESSAGE) + content  # FramedContentTBS (no context: external)
        signature = self.key.sign(vec(b"MLS 1.0 FramedContentTBS") + vec(tbs), ec.ECDSA(hashes.SHA256()))
        return struct.pack(">HH", MLS10, PUBLIC_MESSAGE) + content + vec(signature)


class DaveServerSide:
    """DAVE for one voice connection: external sender, the listener member, transitions."""

    def __init__(self, server: FakeVoiceServer, session: VoiceSession) -> None:
        self.server = server
        self.session = session
        self.sender = ExternalSender()
        self.channel_id = session.grant.channel_id
        self.listener = davey.DaveSession(1, LISTENER_ID, self.channel_id)
        self.listener.set_external_sender(self.sender.package())
        self.extra = {uid: davey.DaveSession(1, uid, self.channel_id)
                      for uid in EXTRA_MEMBER_IDS[:max(0, server.members - 1)]}
        self.bot_key_packages = 0
        self.welcomes_sent = 0
        self.removed = False  # the listener left the channel (it can no longer open the bot's frames)
        self.transitions: list[int] = []  # transitions executed
        self.invalid_commits: list[Any] = []
        self.commits = 0  # op 28 frames received
        self.revoked = 0  # Add proposals withdrawn (op 27 revoke)
        self._proposal: bytes | None = None  # the Add proposal waiting for the bot's commit
        self._next_transition = 1
        self._pending: int | None = None
        self.protocol_version = 1  # 0 once a downgrade executed (passthrough), 1 again after an upgrade
        self._versions: dict[int, int] = {}  # pending transition id -> the protocol version it brings

    @property
    def member_ids(self) -> list[int]:
        """The users the fake controls in the channel: the listener first."""
        return [LISTENER_ID, *self.extra]

    def member(self, user_id: int) -> davey.DaveSession:
        """The DAVE session of a member the fake controls."""
        return self.listener if user_id == LISTENER_ID else self.extra[user_id]

    @property
    def active(self) -> bool:
        """True once the listener is in the bot's group (it can open the bot's frames)."""
        return bool(self.listener.ready)

    async def start(self) -> None:
        """After SESSION_DESCRIPTION: the listener is in the channel; announce the external sender."""
        await self.server._send(self.session, 11, {"user_ids": [str(u) for u in self.member_ids]})  # CLIENTS_CONNECT
        await self.server.send_binary(self.session, EXTERNAL_SENDER, self.sender.package())

    async def client_binary(self, data: bytes) -> None:
        """A binary frame from the bot: ``[op][payload]``."""
        op, payload = data[0], data[1:]
        if op == KEY_PACKAGE:
            self.bot_key_packages += 1
            self.listener.reinit(1, LISTENER_ID, self.channel_id)
            self.listener.set_external_sender(self.sender.package())
            group = struct.pack(">Q", self.channel_id)
            if self.server.dave_flow == "welcome":
                # the listener is there first: it commits the bot's addition and the bot gets a welcome
                proposal = self.sender.add_proposal(group, 0, payload)
                result = self.listener.process_proposals(davey.ProposalsOperationType.append, vec(proposal))
                assert isinstance(result, davey.CommitWelcome) and result.welcome
                self.listener.process_commit(result.commit)
                transition = self._next_transition
                self._next_transition += 1
                self._pending = transition
                self.welcomes_sent += 1
                await self.server.send_binary(self.session, WELCOME, struct.pack(">H", transition) + result.welcome)
            else:
                await self._propose_listener()
        elif op == COMMIT_WELCOME:
            self.commits += 1
            if self.server.revoke_proposals > 0 and not self.removed and self._proposal is not None:
                # the listener left before the commit was announced: withdraw its addition (never announced),
                # then it comes back with a new key package and the bot commits afresh
                self.server.revoke_proposals -= 1
                self.revoked += 1
                revoke = vec(vec(proposal_ref(self._proposal)))
                await self.server.send_binary(self.session, PROPOSALS, bytes([1]) + revoke)  # 1: revoke
                self.listener.reinit(1, LISTENER_ID, self.channel_id)
                self.listener.set_external_sender(self.sender.package())
                await self._propose_listener()
                self.server.changed.set()
                return
            self._proposal = None
            commit = payload if self.removed else self._split(payload)[0]  # a removal's commit has no welcome
            transition = self._next_transition
            self._next_transition += 1
            self._pending = transition
            if self.server.corrupt_commits > 0:  # announce a damaged commit: the bot must recover (op 31)
                self.server.corrupt_commits -= 1
                commit = commit[:-8] + bytes(8)
            await self.server.send_binary(self.session, ANNOUNCE_COMMIT, struct.pack(">H", transition) + commit)
        self.server.changed.set()

    async def _propose_listener(self) -> None:
        """op 27 (append): the external Add proposal of the listener's key package, for the bot to commit."""
        group = struct.pack(">Q", self.channel_id)
        self._proposal = self.sender.add_proposal(group, 0, self.listener.get_serialized_key_package())
        others = b""
        for uid, member in self.extra.items():
            member.reinit(1, uid, self.channel_id)
            member.set_external_sender(self.sender.package())
            others += self.sender.add_proposal(group, 0, member.get_serialized_key_package())
        await self.server.send_binary(self.session, PROPOSALS, bytes([0]) + vec(self._proposal + others))  # 0: append

    def _split(self, payload: bytes) -> tuple[bytes, bytes]:
        """discord.py sends ``commit + welcome`` back to back: find the welcome the listener accepts.

        The commit is an ``MLSMessage``; davey's welcome is a bare ``Welcome`` (it starts with its
        cipher suite, 0x0002), so the split is where the listener accepts the rest as its welcome.
        """
        marker = struct.pack(">H", CIPHER_SUITE)
        start = payload.find(marker, 4)
        while start != -1:
            try:
                self.listener.process_welcome(payload[start:])
            except Exception:  # noqa: BLE001 - not the welcome's start: keep looking
                start = payload.find(marker, start + 1)
                continue
            for member in self.extra.values():
                member.process_welcome(payload[start:])
            return payload[:start], payload[start:]
        raise AssertionError("op 28 carries no welcome the listener accepts")

    async def remove_listener(self) -> None:
        """The listener leaves the channel: CLIENT_DISCONNECT, then an external Remove proposal the bot commits."""
        epoch, leaf = self.listener.epoch, self.listener.own_leaf_index
        assert epoch is not None and leaf is not None, "the listener is not in the bot's group"
        self.removed = True
        await self.server._send(self.session, 13, {"user_id": str(LISTENER_ID)})  # CLIENT_DISCONNECT
        proposal = self.sender.remove_proposal(struct.pack(">Q", self.channel_id), epoch, leaf)
        await self.server.send_binary(self.session, PROPOSALS, bytes([0]) + vec(proposal))

    async def downgrade(self) -> int:
        """op 21 ``{transition_id, protocol_version: 0}``: DAVE off once the bot is ready (op 23 -> op 22)."""
        transition = self._next_transition
        self._next_transition += 1
        self._pending = transition
        self._versions[transition] = 0
        await self.server._send(self.session, PREPARE_TRANSITION, {"transition_id": transition, "protocol_version": 0})
        return transition

    async def upgrade(self) -> None:
        """op 24 ``{epoch: 1, protocol_version: 1}``: a new MLS group; the external sender is announced again,
        and the bot's new key package starts the usual addition of the listener (op 27 -> 28 -> 29 -> 23 -> 22)."""
        await self.server._send(self.session, PREPARE_EPOCH, {"epoch": 1, "protocol_version": 1})
        await self.server.send_binary(self.session, EXTERNAL_SENDER, self.sender.package())

    def invalid_commit(self, d: dict[str, Any]) -> None:
        """op 31 from the bot: it could not process a commit or welcome (it re-sends its key package next)."""
        self.invalid_commits.append(d)
        self._pending = None

    async def transition_ready(self, transition_id: int) -> None:
        """op 23 from the bot: every member is ready, execute (op 22)."""
        if transition_id == self._pending:
            self._pending = None
            self.transitions.append(transition_id)
            self.protocol_version = self._versions.pop(transition_id, 1)
            await self.server._send(self.session, EXECUTE_TRANSITION, {"transition_id": transition_id})

    def open(self, frame: bytes) -> tuple[bytes, bool] | None:
        """The Opus frame inside a (possibly) end-to-end-encrypted frame, and whether it was encrypted."""
        if not frame.endswith(DAVE_MAGIC):
            return frame, False  # passthrough: sent before the group was ready
        if self.removed:
            return None  # a member who left holds no key for the new epoch
        try:
            return bytes(self.listener.decrypt(self.session.grant.user_id, davey.MediaType.audio, frame)), True
        except Exception:  # noqa: BLE001 - the listener cannot open it
            return None

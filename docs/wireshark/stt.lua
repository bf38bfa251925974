-- STT dissector for Wireshark and tshark (docs/wireshark/README.md).
--
-- Decodes STT datagrams (docs/PROTOCOL.md): the frame header, every frame type, the cleartext
-- fields of the handshake messages (INIT, CHALLENGE, RESPONSE, CONFIRM, REJECT; INIT and CONFIRM
-- of version 3 too), and the frames
-- of datagrams that `stt decrypt` opened ("STTD" prefix): DATA with stream id, offset and
-- length, and every other frame type with its fields. Encrypted frames of a raw capture show
-- their header and an opaque payload.
--
-- Registered as a heuristic dissector on UDP and on WebSocket binary payloads. The heuristic
-- claims a payload only if it is a whole run of well-formed frames (magic "ST", a defined frame
-- type, no reserved flag bit, a payload length within the datagram and a metadata length of 24
-- for every frame, ending exactly at the end of the payload), or a decrypted datagram whose rest
-- is such a run.
--
-- Use: tshark -X lua_script:docs/wireshark/stt.lua -r capture.pcap -V
-- or copy this file into Wireshark's personal Lua plugins folder.

local stt = Proto("STTP", "STT Protocol")

local FRAME_OVERHEAD = 52
local MAX_PAYLOAD = 2097152

local frame_types = {
    [0x01] = "INIT", [0x02] = "CHALLENGE", [0x03] = "RESPONSE", [0x04] = "CONFIRM",
    [0x10] = "DATA", [0x11] = "STREAM_OPEN", [0x12] = "STREAM_CLOSE", [0x13] = "ACK",
    [0x14] = "KEEPALIVE", [0x15] = "DISCONNECT", [0x16] = "REJECT", [0x17] = "MAX_DATA",
    [0x18] = "PATH_CHALLENGE", [0x19] = "PATH_RESPONSE",
    [0x20] = "ENDPOINT_REGISTER", [0x21] = "ENDPOINT_RESOLVE", [0x22] = "ENDPOINT_ROUTE",
}

local function type_name(t)
    if frame_types[t] then return frame_types[t] end
    if t >= 0x80 then return string.format("CUSTOM 0x%02x", t) end
    return string.format("UNKNOWN 0x%02x", t)
end

local function type_known(t)
    return frame_types[t] ~= nil or t >= 0x80
end

local function is_handshake(t)
    return (t >= 0x01 and t <= 0x04) or t == 0x16
end

local suites = { [0x01] = "AES-256-GCM", [0x02] = "ChaCha20-Poly1305" }
local reject_reasons = {
    [1] = "authentication failed (different shared seed)", [2] = "no common suite",
    [3] = "peer not allowed", [4] = "server mode off", [5] = "unsupported version",
}
local stream_modes = { [0] = "reliable", [1] = "live" }
local extension_types = { [0x0001] = "stream labels" }
local directions = { [0] = "initiator to responder", [1] = "responder to initiator" }
local name_kinds = { [0] = "request", [1] = "reply" }
local name_status = { [0] = "OK", [1] = "unknown name", [2] = "queue full" }

local F = {
    frame = ProtoField.bytes("sttp.frame", "Frame", base.NONE),
    magic = ProtoField.string("sttp.magic", "Magic"),
    type = ProtoField.uint8("sttp.type", "Frame type", base.HEX, nil),
    type_name = ProtoField.string("sttp.type_name", "Frame type name"),
    session_id = ProtoField.uint64("sttp.session_id", "Session id", base.HEX),
    handshake_tag = ProtoField.uint64("sttp.handshake_tag", "Handshake tag (session id field)", base.HEX),
    stream_id = ProtoField.uint32("sttp.stream_id", "Stream id", base.DEC),
    sequence = ProtoField.uint32("sttp.sequence", "Sequence", base.DEC),
    flags = ProtoField.uint8("sttp.flags", "Flags", base.HEX),
    flag_fin = ProtoField.bool("sttp.flags.fin", "FIN", 8, nil, 0x01),
    flag_key_phase = ProtoField.bool("sttp.flags.key_phase", "KEY_PHASE", 8, nil, 0x02),
    flag_peer_key_phase = ProtoField.bool("sttp.flags.peer_key_phase", "PEER_KEY_PHASE", 8, nil, 0x04),
    flag_live = ProtoField.bool("sttp.flags.live", "LIVE", 8, nil, 0x08),
    flag_message = ProtoField.bool("sttp.flags.message", "MESSAGE", 8, nil, 0x10),
    payload_length = ProtoField.uint32("sttp.payload_length", "Payload length", base.DEC),
    payload = ProtoField.bytes("sttp.payload", "Payload"),
    encrypted = ProtoField.bytes("sttp.encrypted_payload", "Encrypted payload"),
    metadata_length = ProtoField.uint32("sttp.metadata_length", "Metadata length", base.DEC),
    packet_number = ProtoField.uint64("sttp.packet_number", "Packet number", base.DEC),
    tag = ProtoField.bytes("sttp.tag", "Tag"),

    -- handshake
    hs_version = ProtoField.uint8("sttp.hs.version", "Version", base.DEC),
    hs_node_id_i = ProtoField.bytes("sttp.hs.node_id_i", "Node id (initiator)"),
    hs_static_r = ProtoField.bytes("sttp.hs.static_r", "Static key (responder)"),
    hs_nonce_i = ProtoField.bytes("sttp.hs.nonce_i", "Nonce (initiator)"),
    hs_nonce_r = ProtoField.bytes("sttp.hs.nonce_r", "Nonce (responder)"),
    hs_suite_count = ProtoField.uint8("sttp.hs.suite_count", "Suite count", base.DEC),
    hs_suite = ProtoField.uint8("sttp.hs.suite", "Suite", base.HEX, suites),
    hs_cookie_time = ProtoField.uint64("sttp.hs.cookie_time", "Cookie time (ns)", base.DEC),
    hs_cookie_mac = ProtoField.bytes("sttp.hs.cookie_mac", "Cookie MAC"),
    hs_ephemeral_i = ProtoField.bytes("sttp.hs.ephemeral_i", "Ephemeral key (initiator)"),
    hs_ephemeral_r = ProtoField.bytes("sttp.hs.ephemeral_r", "Ephemeral key (responder)"),
    hs_encrypted_static = ProtoField.bytes("sttp.hs.encrypted_static_i", "Encrypted static key (initiator)"),
    hs_seed_mac = ProtoField.bytes("sttp.hs.seed_mac", "Seed MAC"),
    hs_ext_len = ProtoField.uint16("sttp.hs.ext_len", "Extensions length", base.DEC),
    hs_ext = ProtoField.bytes("sttp.hs.ext", "Extensions"),
    hs_ext_type = ProtoField.uint16("sttp.hs.ext.type", "Extension", base.HEX, extension_types),
    hs_ext_value = ProtoField.bytes("sttp.hs.ext.value", "Extension value"),
    hs_reason = ProtoField.uint8("sttp.hs.reason", "Reject reason", base.DEC, reject_reasons),

    -- decrypted datagrams
    dec = ProtoField.bytes("sttp.decrypted", "Decrypted by stt decrypt"),
    dec_version = ProtoField.uint8("sttp.decrypted.version", "Format version", base.DEC),
    dec_direction = ProtoField.uint8("sttp.decrypted.direction", "Direction", base.DEC, directions),
    dec_generation = ProtoField.uint32("sttp.decrypted.generation", "Key generation", base.DEC),
    dec_session_id = ProtoField.uint64("sttp.decrypted.session_id", "Session id", base.HEX),
    dec_packet_number = ProtoField.uint64("sttp.decrypted.packet_number", "First packet number", base.DEC),

    -- decrypted frames
    data_stream = ProtoField.uint32("sttp.data.stream", "Stream id", base.DEC),
    data_offset = ProtoField.uint64("sttp.data.offset", "Offset", base.DEC),
    data_length = ProtoField.uint32("sttp.data.length", "Data length", base.DEC),
    data_fin = ProtoField.bool("sttp.data.fin", "FIN"),
    data_bytes = ProtoField.bytes("sttp.data.data", "Data"),
    open_mode = ProtoField.uint8("sttp.stream_open.mode", "Mode", base.DEC, stream_modes),
    open_deadline = ProtoField.uint32("sttp.stream_open.deadline_ms", "Live deadline (ms)", base.DEC),
    open_label_len = ProtoField.uint8("sttp.stream_open.label_len", "Label length", base.DEC),
    open_label = ProtoField.bytes("sttp.stream_open.label", "Label"),
    close_code = ProtoField.uint32("sttp.stream_close.code", "Code", base.HEX),
    ack_delay = ProtoField.uint32("sttp.ack.delay_us", "ACK delay (us)", base.DEC),
    ack_count = ProtoField.uint8("sttp.ack.count", "Range count", base.DEC),
    ack_largest = ProtoField.uint64("sttp.ack.largest", "Largest", base.DEC),
    ack_smallest = ProtoField.uint64("sttp.ack.smallest", "Smallest", base.DEC),
    disc_code = ProtoField.uint32("sttp.disconnect.code", "Code", base.HEX),
    disc_reason_len = ProtoField.uint16("sttp.disconnect.reason_len", "Reason length", base.DEC),
    disc_reason = ProtoField.string("sttp.disconnect.reason", "Reason"),
    max_data_limit = ProtoField.uint64("sttp.max_data.limit", "Limit", base.DEC),
    path_data = ProtoField.bytes("sttp.path.data", "Path data"),
    reg_version = ProtoField.uint32("sttp.register.version", "List version", base.DEC),
    reg_piece = ProtoField.uint8("sttp.register.piece", "Piece", base.DEC),
    reg_pieces = ProtoField.uint8("sttp.register.pieces", "Pieces", base.DEC),
    reg_count = ProtoField.uint8("sttp.register.count", "Name count", base.DEC),
    name_address = ProtoField.bytes("sttp.name.address", "Name address"),
    name_kind = ProtoField.uint8("sttp.name.kind", "Kind", base.DEC, name_kinds),
    name_request = ProtoField.uint32("sttp.name.request_id", "Request id", base.DEC),
    name_floor = ProtoField.uint32("sttp.name.floor", "Floor", base.DEC),
    name_data = ProtoField.bytes("sttp.name.data", "Data"),
    name_status = ProtoField.uint8("sttp.name.status", "Status", base.DEC, name_status),
    custom_type = ProtoField.uint8("sttp.custom.type", "Custom frame type", base.HEX),
    custom_payload = ProtoField.bytes("sttp.custom.payload", "Custom payload"),
}

local field_list = {}
for _, f in pairs(F) do table.insert(field_list, f) end
stt.fields = field_list

-- Checks that tvb[offset..] is a whole run of well-formed frames; returns the frame count or nil.
local function frames_ok(tvb, offset)
    local total = tvb:len()
    local count = 0
    if offset >= total then return nil end
    while offset < total do
        if total - offset < FRAME_OVERHEAD then return nil end
        if tvb(offset, 1):uint() ~= 0x53 or tvb(offset + 1, 1):uint() ~= 0x54 then return nil end
        if not type_known(tvb(offset + 2, 1):uint()) then return nil end
        if tvb(offset + 19, 1):uint() >= 0x20 then return nil end
        local plen = tvb(offset + 20, 4):uint()
        if plen > MAX_PAYLOAD or offset + FRAME_OVERHEAD + plen > total then return nil end
        if tvb(offset + 24 + plen, 4):uint() ~= 24 then return nil end
        offset = offset + FRAME_OVERHEAD + plen
        count = count + 1
    end
    return count
end

local function is_decrypted(tvb)
    return tvb:len() >= 26 + FRAME_OVERHEAD and tvb(0, 4):string() == "STTD" and tvb(4, 1):uint() == 1
end

-- A cursor over a payload range: each take(n) returns the next n bytes, or nil past the end.
local function cursor(tvb, offset, len)
    local c = { pos = offset, stop = offset + len }
    function c.take(n)
        if c.pos + n > c.stop then return nil end
        local r = tvb(c.pos, n)
        c.pos = c.pos + n
        return r
    end
    function c.rest()
        local n = c.stop - c.pos
        if n <= 0 then return nil end
        return c.take(n)
    end
    return c
end

-- Adds fields in order from a cursor; stops (with a note) at the first one that does not fit.
local function add_fields(tree, c, list)
    for _, item in ipairs(list) do
        local r = c.take(item[2])
        if not r then
            tree:add_expert_info(PI_MALFORMED, PI_ERROR, "payload too short")
            return false
        end
        tree:add(item[1], r)
    end
    return true
end

local function add_extensions(tree, c)
    local r = c.take(2)
    if not r then return end
    tree:add(F.hs_ext_len, r)
    local n = r:uint()
    if n > 0 then
        local e = c.take(n)
        if not e then return end
        local block = tree:add(F.hs_ext, e)
        -- Entries: type (2) || len (2) || value (len); a block that is not a whole list is shown
        -- raw only (receivers treat it as empty).
        local at = 0
        while at + 4 <= n do
            local len = e(at + 2, 2):uint()
            if at + 4 + len > n then break end
            block:add(F.hs_ext_type, e(at, 2))
            if len > 0 then block:add(F.hs_ext_value, e(at + 4, len)) end
            at = at + 4 + len
        end
    end
end

local function dissect_handshake(t, tree, c)
    if t == 0x01 then
        local v = c.take(1)
        if not v then return end
        tree:add(F.hs_version, v)
        if not add_fields(tree, c, { { F.hs_node_id_i, 32 }, { F.hs_nonce_i, 32 } }) then return end
        local n = c.take(1)
        if not n then return end
        tree:add(F.hs_suite_count, n)
        for _ = 1, n:uint() do
            local s = c.take(1)
            if not s then return end
            tree:add(F.hs_suite, s)
        end
        -- Version 3 (one round trip) carries the first Noise message.
        if v:uint() == 3 and not add_fields(tree, c, { { F.hs_static_r, 32 }, { F.hs_ephemeral_i, 32 },
            { F.hs_encrypted_static, 48 }, { F.hs_seed_mac, 16 } }) then return end
        add_extensions(tree, c)
    elseif t == 0x02 then
        if add_fields(tree, c, { { F.hs_version, 1 }, { F.hs_static_r, 32 }, { F.hs_nonce_i, 32 },
            { F.hs_nonce_r, 32 }, { F.hs_suite, 1 }, { F.hs_cookie_time, 8 }, { F.hs_cookie_mac, 16 } }) then
            add_extensions(tree, c)
        end
    elseif t == 0x03 then
        if add_fields(tree, c, { { F.hs_version, 1 }, { F.hs_node_id_i, 32 }, { F.hs_static_r, 32 },
            { F.hs_nonce_i, 32 }, { F.hs_nonce_r, 32 }, { F.hs_suite, 1 }, { F.hs_cookie_time, 8 },
            { F.hs_cookie_mac, 16 }, { F.hs_ephemeral_i, 32 }, { F.hs_encrypted_static, 48 },
            { F.hs_seed_mac, 16 } }) then
            add_extensions(tree, c)
        end
    elseif t == 0x04 then
        local v = c.take(1)
        if not v then return end
        tree:add(F.hs_version, v)
        if v:uint() == 3 and not add_fields(tree, c, { { F.hs_nonce_r, 32 } }) then return end
        if add_fields(tree, c, { { F.hs_ephemeral_r, 32 } }) then
            add_extensions(tree, c)
        end
    elseif t == 0x16 then
        add_fields(tree, c, { { F.hs_version, 1 }, { F.hs_nonce_i, 32 }, { F.hs_reason, 1 } })
    end
end

-- The plaintext payload of a decrypted frame; returns a short summary for the Info column.
local function dissect_plain(t, tvb, off, tree, c, plen)
    local stream = tvb(off + 11, 4):uint()
    local flags = tvb(off + 19, 1):uint()
    if t == 0x10 then
        local o = c.take(8)
        if not o then
            tree:add_expert_info(PI_MALFORMED, PI_ERROR, "DATA shorter than its offset")
            return "DATA"
        end
        tree:add(F.data_stream, tvb(off + 11, 4))
        tree:add(F.data_offset, o)
        local len = plen - 8
        tree:add(F.data_length, tvb(off + 20, 4), len)
        tree:add(F.data_fin, tvb(off + 19, 1), flags % 2 == 1)
        local d = c.rest()
        if d then tree:add(F.data_bytes, d) end
        return string.format("DATA stream=%d offset=%s len=%d%s", stream, tostring(o:uint64()), len,
            (flags % 2 == 1) and " FIN" or "")
    elseif t == 0x11 then
        add_fields(tree, c, { { F.open_mode, 1 }, { F.open_deadline, 4 } })
        local l = c.take(1)
        if l then
            tree:add(F.open_label_len, l)
            local label = c.take(l:uint())
            if label then
                tree:add(F.open_label, label)
                return string.format("STREAM_OPEN stream=%d label=%s", stream, label:string())
            end
        end
        return string.format("STREAM_OPEN stream=%d", stream)
    elseif t == 0x12 then
        add_fields(tree, c, { { F.close_code, 4 } })
        return string.format("STREAM_CLOSE stream=%d", stream)
    elseif t == 0x13 then
        if not add_fields(tree, c, { { F.ack_delay, 4 } }) then return "ACK" end
        local n = c.take(1)
        if not n then return "ACK" end
        tree:add(F.ack_count, n)
        for _ = 1, n:uint() do
            if not add_fields(tree, c, { { F.ack_largest, 8 }, { F.ack_smallest, 8 } }) then break end
        end
        return "ACK"
    elseif t == 0x14 then
        return "KEEPALIVE"
    elseif t == 0x15 then
        if add_fields(tree, c, { { F.disc_code, 4 } }) then
            local rl = c.take(2)
            if rl then
                tree:add(F.disc_reason_len, rl)
                local r = c.take(rl:uint())
                if r then tree:add(F.disc_reason, r) end
            end
        end
        return "DISCONNECT"
    elseif t == 0x17 then
        add_fields(tree, c, { { F.max_data_limit, 8 } })
        return string.format("MAX_DATA stream=%d", stream)
    elseif t == 0x18 or t == 0x19 then
        add_fields(tree, c, { { F.path_data, 8 } })
        return type_name(t)
    elseif t == 0x20 then
        if add_fields(tree, c, { { F.reg_version, 4 }, { F.reg_piece, 1 }, { F.reg_pieces, 1 } }) then
            local n = c.take(1)
            if n then
                tree:add(F.reg_count, n)
                for _ = 1, n:uint() do
                    if not add_fields(tree, c, { { F.name_address, 32 } }) then break end
                end
            end
        end
        return "ENDPOINT_REGISTER"
    elseif t == 0x21 or t == 0x22 then
        local k = c.take(1)
        if k then
            tree:add(F.name_kind, k)
            if k:uint() == 0 then
                if add_fields(tree, c, { { F.name_request, 4 }, { F.name_floor, 4 }, { F.name_address, 32 } }) then
                    local d = c.rest()
                    if d then tree:add(F.name_data, d) end
                end
            else
                add_fields(tree, c, { { F.name_request, 4 }, { F.name_status, 1 } })
            end
        end
        return type_name(t)
    elseif t >= 0x80 then
        tree:add(F.custom_type, tvb(off + 2, 1))
        local d = c.rest()
        if d then tree:add(F.custom_payload, d) end
        return type_name(t)
    end
    return type_name(t)
end

-- One frame at `off`; returns its length and an Info summary.
local function dissect_frame(tvb, off, tree, decrypted)
    local t = tvb(off + 2, 1):uint()
    local plen = tvb(off + 20, 4):uint()
    local flen = FRAME_OVERHEAD + plen
    local name = type_name(t)
    local ft = tree:add(F.frame, tvb(off, flen))
    ft:set_text(string.format("%s frame, %d bytes", name, flen))
    ft:add(F.magic, tvb(off, 2))
    ft:add(F.type, tvb(off + 2, 1)):append_text(" (" .. name .. ")")
    ft:add(F.type_name, tvb(off + 2, 1), name)
    -- CONFIRM of version 3 (the one-round-trip handshake) carries the handshake tag too.
    local fast_confirm = t == 0x04 and plen > 0 and tvb(off + 24, 1):uint() == 3
    if t == 0x01 or t == 0x02 or t == 0x16 or fast_confirm then
        ft:add(F.handshake_tag, tvb(off + 3, 8))
    else
        ft:add(F.session_id, tvb(off + 3, 8))
    end
    ft:add(F.stream_id, tvb(off + 11, 4))
    ft:add(F.sequence, tvb(off + 15, 4))
    local fl = ft:add(F.flags, tvb(off + 19, 1))
    fl:add(F.flag_fin, tvb(off + 19, 1))
    fl:add(F.flag_key_phase, tvb(off + 19, 1))
    fl:add(F.flag_peer_key_phase, tvb(off + 19, 1))
    fl:add(F.flag_live, tvb(off + 19, 1))
    fl:add(F.flag_message, tvb(off + 19, 1))
    ft:add(F.payload_length, tvb(off + 20, 4))
    local summary = name
    if plen > 0 then
        local c = cursor(tvb, off + 24, plen)
        if is_handshake(t) then
            local pt = ft:add(F.payload, tvb(off + 24, plen))
            pt:set_text(string.format("%s payload (cleartext, %d bytes)", name, plen))
            dissect_handshake(t, pt, c)
        elseif decrypted then
            local pt = ft:add(F.payload, tvb(off + 24, plen))
            pt:set_text(string.format("%s payload (decrypted, %d bytes)", name, plen))
            summary = dissect_plain(t, tvb, off, pt, c, plen)
        else
            ft:add(F.encrypted, tvb(off + 24, plen))
        end
    elseif decrypted then
        summary = dissect_plain(t, tvb, off, ft, cursor(tvb, off + 24, 0), 0)
    end
    ft:add(F.metadata_length, tvb(off + 24 + plen, 4))
    ft:add(F.packet_number, tvb(off + 28 + plen, 8))
    ft:add(F.tag, tvb(off + 36 + plen, 16))
    return flen, summary
end

function stt.dissector(tvb, pinfo, tree)
    local decrypted = is_decrypted(tvb)
    local start = decrypted and 26 or 0
    if not frames_ok(tvb, start) then return 0 end
    pinfo.cols.protocol = "STT"
    local root = tree:add(stt, tvb(), decrypted and "STT Protocol (decrypted)" or "STT Protocol")
    if decrypted then
        local d = root:add(F.dec, tvb(0, 26))
        d:set_text("Decrypted by stt decrypt")
        d:add(F.dec_version, tvb(4, 1))
        d:add(F.dec_direction, tvb(5, 1))
        d:add(F.dec_generation, tvb(6, 4))
        d:add(F.dec_session_id, tvb(10, 8))
        d:add(F.dec_packet_number, tvb(18, 8))
    end
    local off = start
    local summaries = {}
    while off < tvb:len() do
        local len, summary = dissect_frame(tvb, off, root, decrypted)
        table.insert(summaries, summary)
        off = off + len
    end
    pinfo.cols.info:set((decrypted and "[decrypted] " or "") .. table.concat(summaries, ", "))
    return tvb:len()
end

local function heuristic(tvb, pinfo, tree)
    local start = is_decrypted(tvb) and 26 or 0
    if not frames_ok(tvb, start) then return false end
    stt.dissector(tvb, pinfo, tree)
    return true
end

stt:register_heuristic("udp", heuristic)
-- WebSocket binary messages (STT over ws:// carries one datagram per message).
pcall(function() stt:register_heuristic("ws", heuristic) end)

-- The access log, buffered. HAProxy's own `log stdout` writes every line with a syscall of its own,
-- and behind stdout Docker's log pipeline pays for each write: it cost the stack about a third of
-- its requests/s (docs/stack.md). Here the lines are gathered and written a few at a time: when
-- 64 KiB are waiting, or 50 ms after the first waiting line. A quiet proxy writes each line at once.
--
-- HAProxy makes stdout non-blocking, and its own log lines share the pipe: each write is whole
-- lines of at most PIPE_BUF bytes, which a pipe takes whole or not at all, so no line is cut or
-- mixed with another. When the pipe is full, the lines wait for the next flush; past MAX_WAITING
-- they are counted, not kept, and the count is logged.
--
-- One Lua state per thread (`lua-load-per-thread`), each with its own buffer and flushing task: one
-- state for all threads (`lua-load`) is behind a lock that they spin on, which cost the proxy about a
-- quarter of its requests/s under overload. The threads' writes, whole lines each, cannot mix.

io.stdout:setvbuf("no")

local PIPE_BUF = 4096
local LIMIT = 64 * 1024
local MAX_WAITING = 8 * 1024 * 1024
local DELAY_MS = 50

local lines, size, oldest, dropped = {}, 0, nil, 0

local function now_ms()
    local now = core.now()
    return now.sec * 1000 + now.usec // 1000
end

-- Write the waiting lines, PIPE_BUF bytes at most a write; stop at the first write refused.
local function flush()
    local first = 1
    while first <= #lines do
        local last, length = first, #lines[first]
        while last < #lines and length + #lines[last + 1] <= PIPE_BUF do
            last = last + 1
            length = length + #lines[last]
        end
        if not io.stdout:write(table.concat(lines, "", first, last)) then
            break
        end
        size = size - length
        first = last + 1
    end
    lines = table.move(lines, first, #lines, 1, {})
    oldest = #lines > 0 and now_ms() or nil
    if dropped > 0 and #lines == 0 then
        local note = string.format(
            '{"logger":"haproxy.access","message":"%d access lines dropped: stdout was full"}\n',
            dropped
        )
        if io.stdout:write(note) then
            dropped = 0
        end
    end
end

-- `http-after-response lua.access_log`: the line that `set-var-fmt(txn.access_line)` made.
core.register_action("access_log", { "http-after-res" }, function(txn)
    local line = txn:get_var("txn.access_line")
    if line == nil then
        return
    end
    if size >= MAX_WAITING then
        dropped = dropped + 1
        return
    end
    lines[#lines + 1] = line .. "\n"
    size = size + #line + 1
    local t = now_ms()
    oldest = oldest or t
    if size >= LIMIT or t - oldest >= DELAY_MS then
        flush()
    end
end, 0)

-- Lines that wait while no new request comes are written by this task.
core.register_task(function()
    while true do
        core.msleep(DELAY_MS)
        flush()
    end
end)

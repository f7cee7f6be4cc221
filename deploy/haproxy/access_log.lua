-- The access log, buffered. HAProxy's own `log stdout` writes every line with a syscall of its own,
-- and behind stdout Docker's log pipeline pays for each write: it cost the stack about a third of
-- its requests/s (docs/stack.md). Here the lines are gathered and written in one go: when 64 KiB
-- are waiting, or 50 ms after the first waiting line. A quiet proxy writes each line at once.
--
-- One Lua state for all threads (`lua-load`): its lock keeps the chunks of two threads apart.

io.stdout:setvbuf("no")

local LIMIT = 64 * 1024
local DELAY_MS = 50

local lines, size, oldest = {}, 0, nil

local function now_ms()
    local now = core.now()
    return now.sec * 1000 + now.usec // 1000
end

local function flush()
    if size > 0 then
        local chunk = table.concat(lines)
        lines, size, oldest = {}, 0, nil
        io.stdout:write(chunk)
    end
end

-- `http-after-response lua.access_log`: the line that `set-var-fmt(txn.access_line)` made.
core.register_action("access_log", { "http-after-res" }, function(txn)
    local line = txn:get_var("txn.access_line")
    if line == nil then
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

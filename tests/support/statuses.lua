-- wrk -s tests/support/statuses.lua: after wrk's own report, one line per answer status,
-- `status 200 12345`, and `unexpected N`: answers that are neither 200 nor a 503 or 429 with
-- Retry-After.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    statuses = {}
    unexpected = 0
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if status ~= 200 then
        local retry_after = false
        for name, _ in pairs(headers) do
            if string.lower(name) == "retry-after" then retry_after = true end
        end
        if (status ~= 503 and status ~= 429) or not retry_after then unexpected = unexpected + 1 end
    end
end

function done(summary, latency, requests)
    local total, odd = {}, 0
    for _, thread in ipairs(threads) do
        for status, count in pairs(thread:get("statuses")) do
            total[status] = (total[status] or 0) + count
        end
        odd = odd + thread:get("unexpected")
    end
    for status, count in pairs(total) do
        io.write(string.format("status %d %d\n", status, count))
    end
    io.write(string.format("unexpected %d\n", odd))
end

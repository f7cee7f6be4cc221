-- The Host allowlist: `lua.host_allowed` tells whether a request's host (`txn.host`: the Host
-- header, lowercase, without its port) is one this proxy serves. The names are PROXY_ALLOWED_HOSTS
-- (compose.yml), else in ACME mode the certified ones (TLS_DOMAINS), comma-separated; with
-- neither, every host is served (the self-signed localhost mode, reached by any address).

local allowed = nil

local function names(list)
    if list == nil or list == "" then
        return nil
    end
    local set = {}
    for name in string.gmatch(list, "[^,%s]+") do
        set[string.lower(name)] = true
    end
    return set
end

allowed = names(os.getenv("ALLOWED_HOSTS")) or names(os.getenv("TLS_DOMAINS"))

core.register_fetches("host_allowed", function(txn)
    if allowed == nil then
        return true
    end
    local host = txn:get_var("txn.host")
    return host ~= nil and allowed[host] == true
end)

-- wrk script: POST one event per request to POST /streams/{stream},
-- spread over 1000 streams with expected_version "any" (no conflicts).
-- Used by bench/http-load.sh.
local counter = 0

request = function()
	counter = counter + 1
	local stream = "load-" .. (counter % 1000)
	local body = '{"expected_version":"any","events":[{"type":"Loaded",' ..
		'"data":{"n":' .. counter .. ',"pad":"abcdefghijklmnop"}}]}'
	return wrk.format("POST", "/streams/" .. stream,
		{["Content-Type"] = "application/json"}, body)
end

local bad = 0
response = function(status, headers, body)
	if status ~= 201 then
		bad = bad + 1
		if bad <= 3 then
			io.stderr:write("unexpected " .. status .. ": " .. body .. "\n")
		end
	end
end

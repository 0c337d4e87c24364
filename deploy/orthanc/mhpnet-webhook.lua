-- mhpnet-webhook.lua: tells the MHP-Net node that a study is complete.
--
-- Orthanc calls OnStableStudy once a study has received no new instance for
-- StableAge seconds (orthanc.json). The script POSTs the study's UID to the
-- node's webhook, authenticated with the shared bearer token:
--
--   POST <MHPNET_WEBHOOK_URL>            (default http://node:8080/v1/events/study)
--   Authorization: Bearer <MHPNET_WEBHOOK_TOKEN>
--   {"source": "<MHPNET_SOURCE>", "StudyInstanceUID": "...", "ID": "<orthanc id>"}
--
-- The URL, token and source come from Orthanc's environment, so the token is
-- never written in a file that is shared or versioned. The node answers 202
-- once the event is stored in its queue, 401 without the right token.
--
-- Only the UIDs and Orthanc's own id are sent: no patient name or ID.

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == '' then
    return default
  end
  return v
end

function OnStableStudy(studyId, tags, metadata)
  local url = env('MHPNET_WEBHOOK_URL', 'http://node:8080/v1/events/study')
  local token = env('MHPNET_WEBHOOK_TOKEN', nil)
  if token == nil then
    print('mhpnet-webhook: MHPNET_WEBHOOK_TOKEN is not set; study ' .. studyId .. ' not announced')
    return
  end
  local body = DumpJson({
    source = env('MHPNET_SOURCE', 'orthanc'),
    StudyInstanceUID = tags['StudyInstanceUID'],
    ID = studyId,
  }, true)
  -- HttpPost raises a Lua error when the node cannot be reached or answers
  -- an error; pcall keeps Orthanc running and the log says what happened.
  -- A study missed here is still found by the node's QIDO-RS poller when
  -- intake.poller.enabled is true.
  local ok, err = pcall(HttpPost, url, body, {
    ['Content-Type'] = 'application/json',
    ['Authorization'] = 'Bearer ' .. token,
  })
  if not ok then
    print('mhpnet-webhook: announcing study ' .. studyId .. ' to ' .. url .. ' failed: ' .. tostring(err))
  end
end

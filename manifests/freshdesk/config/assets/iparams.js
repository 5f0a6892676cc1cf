// Baton's settings page (an FDK custom installation page). When the admin clicks Install (or Save
// on Edit Settings) Freshdesk calls validate(), then postConfigs(); getConfigs(configs) fills the
// page for Edit Settings. validate() registers the account with Baton: Baton checks the account's
// address and the API key against Freshdesk and answers its installation and the app key, which
// postConfigs() stores as secure iparams (only request templates' headers ever see them).
/* exported validate, postConfigs, getConfigs */
var registered = null; // Baton's answer, for postConfigs()
var ready = app.initialized();

function show(id, text) {
  var el = document.getElementById(id);
  el.textContent = text;
  el.hidden = !text;
}

function fail(message) {
  show("connected", "");
  show("error", message);
  return false;
}

// "https://baton.yourco.com/" → {host: "baton.yourco.com", url: "https://baton.yourco.com"}; null for anything else
function batonAddress(text) {
  var match = /^(https?):\/\/([A-Za-z0-9.-]+(?::\d{1,5})?)\/?$/.exec(text.trim());
  return match ? { host: match[2], url: match[1] + "://" + match[2] } : null;
}

async function validate() {
  show("error", "");
  var address = batonAddress(document.getElementById("baton-url").value);
  var apiKey = document.getElementById("api-key").value.trim();
  if (!address) return fail("Give Baton's address, like https://baton.yourco.com (no path).");
  if (!apiKey) return fail("Give the Freshdesk API key Baton will work with.");
  var client = await ready;
  try {
    var account = await client.data.get("currentHost");
    var response = await client.request.invokeTemplate("baton_install", {
      context: { baton_host: address.host, api_key: apiKey },
      body: JSON.stringify({ domain: account.currentHost.endpoint_urls.freshdesk })
    });
    registered = Object.assign(JSON.parse(response.response), address);
  } catch (error) {
    var message = "Baton did not answer at " + address.url + " (" + ((error && error.status) || "no answer") + ").";
    try { message = JSON.parse(error.response).error || message; } catch (ignored) { /* not Baton's JSON */ }
    return fail(message);
  }
  show("connected", "Connected to Baton (installation " + registered.installation + ").");
  return true;
}

function postConfigs() {
  return {
    __meta: { secure: ["baton_key", "baton_secret"] },
    baton_url: registered.url,
    baton_host: registered.host,
    baton_installation: registered.installation,
    baton_key: registered.key,
    baton_secret: registered.webhook_secret
  };
}

function getConfigs(configs) {
  // Edit Settings: the address comes back; the API key and Baton's secrets are never shown again
  if (configs && configs.baton_url) {
    document.getElementById("baton-url").value = configs.baton_url;
  }
}

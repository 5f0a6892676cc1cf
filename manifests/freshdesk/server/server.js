// Baton's serverless side (Freshworks FDK, Platform 3.0): forward the ticket events Baton decides
// on, and tell Baton when the app is uninstalled. Every call goes through a request template
// (config/requests.json), which adds Baton's secrets from the secure iparams.

// The payload as Freshworks delivers it, minus its iparams: those are Baton's own secrets and
// need not travel back (https://developers.freshworks.com/docs/app-sdk/v3.0/support_ticket/serverless-apps/product-events/).
function forward(payload) {
  const event = Object.assign({}, payload);
  delete event.iparams;
  return $request.invokeTemplate("baton_event", { body: JSON.stringify(event) }).catch(function (error) {
    // maxAttempts in the template already retried 429/5xx; Baton's beat replays nothing it never received
    console.error("Baton did not take " + payload.event + ": " + (error && error.status));
  });
}

exports = {
  onTicketCreateHandler: forward,
  onTicketUpdateHandler: forward,
  onConversationCreateHandler: forward,

  // Uninstalling must never be blocked by Baton being unreachable: renderData() without an error
  // lets Freshdesk finish (app setup events time out after 10 s).
  onAppUninstallHandler: function (payload) {
    $request.invokeTemplate("baton_uninstall", {
      body: JSON.stringify({ event: payload.event, timestamp: payload.timestamp })
    }).catch(function (error) {
      console.error("Baton was not told of the uninstall: " + (error && error.status));
    }).then(function () {
      renderData();
    });
  }
};

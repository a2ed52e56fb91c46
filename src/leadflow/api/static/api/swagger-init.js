// Start swagger-ui with the settings the page carries (a file, not an inline script, so a strict CSP allows it).
const config = JSON.parse(document.getElementById("swagger-settings").textContent);
config.dom_id = "#swagger-ui";
config.presets = [SwaggerUIBundle.presets.apis];
// "Try it out" with the signed-in session needs the CSRF token on unsafe methods.
config.requestInterceptor = (request) => {
  request.headers["X-CSRFToken"] = document.body.dataset.csrfToken;
  return request;
};
SwaggerUIBundle(config);

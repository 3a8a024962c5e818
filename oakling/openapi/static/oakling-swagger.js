// oakling: start Swagger UI on the page's document. The page's CSRF token
// (meta csrf-token) goes in the CSRF header of unsafe requests, so "Try it
// out" works for a user signed in through the session; a bearer token set
// with "Authorize" needs no CSRF token.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("oakling-openapi-config").textContent);
  var meta = document.querySelector('meta[name="csrf-token"]');
  var safe = ["GET", "HEAD", "OPTIONS", "TRACE"];
  var options = {
    url: config.url,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    requestInterceptor: function (request) {
      var method = (request.method || "GET").toUpperCase();
      if (meta && config.csrfHeader && safe.indexOf(method) < 0) {
        request.headers[config.csrfHeader] = meta.getAttribute("content");
      }
      return request;
    }
  };
  for (var key in config.swagger) {
    if (Object.prototype.hasOwnProperty.call(config.swagger, key)) {
      options[key] = config.swagger[key];
    }
  }
  window.ui = SwaggerUIBundle(options);
})();

// Fields that apply only to some choices: an input with data-when="name=value1 value2" shows
// (its .field wrapper) only while the form's control called "name" has one of the values. The
// server ignores what a hidden field holds, so nothing typed in one ever refuses the form.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
    var dependents = Array.prototype.slice.call(form.querySelectorAll("[data-when]"));
    if (!dependents.length) {
      return;
    }
    function update() {
      dependents.forEach(function (input) {
        var rule = input.getAttribute("data-when").split("=");
        var control = form.elements[rule[0]];
        var wanted = (rule[1] || "").split(" ");
        var group = input.closest(".field") || input;
        group.hidden = !control || wanted.indexOf(control.value) < 0;
      });
    }
    form.addEventListener("change", update);
    update();
  });
})();

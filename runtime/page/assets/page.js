// The scoring form: sends the row to /v1/predict as typed (empty = null) and shows the
// answer, or every problem a 422 names. The server does all validation; this only displays.
"use strict";
(function () {
  const form = document.getElementById("score-form");
  const result = document.getElementById("result");
  if (!form || !result) return;

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
  }

  function show(nodes, state) {
    result.replaceChildren(...nodes);
    result.dataset.state = state;
  }

  function paragraph(text, className) {
    const p = document.createElement("p");
    p.textContent = text;
    if (className) p.className = className;
    return p;
  }

  function problemsTable(problems) {
    const table = document.createElement("table");
    table.id = "problems";
    const head = table.createTHead().insertRow();
    for (const name of ["row", "column", "reason"]) {
      const th = document.createElement("th");
      th.textContent = name;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const problem of problems) {
      const row = body.insertRow();
      cell(row, problem.row === null ? "-" : String(problem.row), "num");
      cell(row, problem.column === null ? "-" : problem.column);
      cell(row, problem.reason);
    }
    return table;
  }

  // The row's contributions as horizontal bars (margin scale), largest magnitude first; for a
  // multiclass model, those of the predicted class.
  function contributionChart(explained, label) {
    const set = explained.classes ? explained.classes[label] : explained;
    const figure = document.createElement("figure");
    figure.id = "contributions";
    const caption = document.createElement("figcaption");
    const of = explained.classes ? ` to the score of ${label}` : " to the log-odds";
    caption.textContent = `contributions${of}: bias ${set.bias.toFixed(4)}, margin ${set.margin.toFixed(4)}`;
    figure.appendChild(caption);
    const entries = Object.entries(set.values);
    const largest = Math.max(...entries.map(([, v]) => Math.abs(v)), 1e-12);
    for (const [column, value] of entries) {
      const row = document.createElement("div");
      row.className = "bar-row";
      row.dataset.column = column;
      row.dataset.value = String(value);
      const name = document.createElement("span");
      name.className = "bar-name";
      name.textContent = column;
      const track = document.createElement("span");
      track.className = "bar-track";
      const bar = document.createElement("span");
      bar.className = value >= 0 ? "bar up" : "bar down";
      bar.style.width = `${(50 * Math.abs(value)) / largest}%`;
      track.appendChild(bar);
      const number = document.createElement("span");
      number.className = "bar-value num";
      number.textContent = value.toFixed(4);
      row.append(name, track, number);
      figure.appendChild(row);
    }
    return figure;
  }

  function collect() {
    const row = {};
    for (const input of form.querySelectorAll("input[data-column]")) {
      row[input.dataset.column] = input.value.trim() === "" ? null : input.value;
    }
    return row;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    show([paragraph("scoring...", "note")], "pending");
    try {
      const response = await fetch(form.dataset.endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(collect()),
      });
      const body = await response.json().catch(() => null);
      if (response.ok && body && Array.isArray(body.classes)) {
        const ranked = body.classes.map((c) => `${c} ${Number(body.probabilities[c]).toFixed(6)}`);
        const nodes = [
          paragraph(`label ${body.label}; probabilities ${ranked.join(", ")}`, "score"),
          paragraph(`${body.model.name} ${body.model.version}`, "note"),
        ];
        if (body.contributions) nodes.push(contributionChart(body.contributions, body.label));
        show(nodes, "scored");
        result.dataset.probabilities = JSON.stringify(body.probabilities);
        result.dataset.label = String(body.label);
      } else if (response.ok && body) {
        const label = body.label === 1 ? "positive" : "negative";
        const nodes = [
          paragraph(`probability ${body.probability.toFixed(6)}, label ${body.label} (${label} at threshold ${body.threshold})`, "score"),
          paragraph(`${body.model.name} ${body.model.version}`, "note"),
        ];
        if (body.contributions) nodes.push(contributionChart(body.contributions, body.label));
        show(nodes, "scored");
        result.dataset.probability = String(body.probability);
        result.dataset.label = String(body.label);
      } else {
        const error = (body && body.error) || { message: `HTTP ${response.status}` };
        const nodes = [paragraph(`HTTP ${response.status}: ${error.message}`, "error")];
        if (Array.isArray(error.problems)) nodes.push(problemsTable(error.problems));
        show(nodes, "refused");
        result.dataset.status = String(response.status);
      }
    } catch (error) {
      show([paragraph(`request failed: ${error}`, "error")], "failed");
    } finally {
      button.disabled = false;
    }
  });
})();

# docs/examples/mail_report.py
from oakling import App, Form
from oakling.mail import EmailMultiAlternatives, send_messages

app = App(debug=True)


@app.post("/report")
async def send_report(email: str = Form()):
    tasks = [("Write the docs", True), ("Ship it", False)]
    text = "\n".join(f"[{'x' if done else ' '}] {title}" for title, done in tasks)
    html = app.templates.env.from_string(
        "<ul>{% for title, done in tasks %}<li>{{ '✓' if done }} {{ title }}</li>{% endfor %}</ul>"
    ).render(tasks=tasks)
    message = EmailMultiAlternatives("Your tasks", text, to=[email])
    message.attach_alternative(html, "text/html")  # clients that show HTML show this
    message.attach("tasks.csv", "title,done\n" + "\n".join(f"{t},{d}" for t, d in tasks))
    await send_messages(app, [message])  # from DEFAULT_FROM_EMAIL
    return {"sent": 1}

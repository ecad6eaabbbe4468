"""`minicnn explore`: the lecture's pictures, live in the browser.

Click through a real net in class: pick a test image (or drop in your own), see every
layer's activation maps, click a unit to see its top-9 images, their guided-backprop and
deconvnet reconstructions and its optimised image, explain a class or a unit with any of the
gradient maps, Grad-CAM or occlusion, switch between the three ReLU rules, run a class model
and watch it form, and randomise the weights from the top to see which maps notice. The
Deep Visualization Toolbox (Yosinski et al. 2015) did this for AlexNet; this is the same idea
on a net you can read.

The package, read in this order:
    data.py      which images: the test set (or the embedded sample), and uploads
    index.py     the top-9 index over the test images, computed once, cached on disk
    explorer.py  Explorer: every view computed as arrays and numbers; no HTTP here
    server.py    the Starlette app: one endpoint per view, answering JSON or PNG
    cli.py       `minicnn explore [--model M] [--data PATH] [--host H] [--port P] [--open]`
    static/      the page: plain HTML, CSS and JavaScript, no build step, no CDN

The server is an optional extra (`pip install "minicnn[explore]"`); importing this package
does not import it.
"""

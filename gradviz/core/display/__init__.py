"""What the views show, decided without Qt: which nodes a search finds, how the graph
looks phase by phase during training, how a tensor becomes an image. The widgets in
:mod:`gradviz.ui` draw these answers; the answers are tested here, without a display."""

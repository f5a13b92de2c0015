# Sphinx configuration of the collection's docs site (`make docs`), as
# `antsibull-docs sphinx-init` writes it, for a build without network access:
# no intersphinx inventories (references to other collections' plugins become
# links to their published docs, made by antsibull-docs itself).

project = 'autolease.sanlock'
copyright = 'autolease.sanlock developers'
title = 'autolease.sanlock Collection Documentation'
html_short_title = 'autolease.sanlock Docs'

extensions = ['sphinx_antsibull_ext']

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

default_role = 'any'
nitpicky = True

# Labels of the Ansible docs that antsibull-docs' pages refer to. Offline,
# without intersphinx, they resolve to the published pages; any other label
# that does not resolve stays an error of the build (-W, nitpicky).
ANSIBLE_DOCS = 'https://docs.ansible.com/ansible/latest/'
ANSIBLE_LABELS = {
    'common_return_values': 'reference_appendices/common_return_values.html',
    'ansible_configuration_settings': 'reference_appendices/config.html',
}
OWN_PREFIX = 'ansible_collections.autolease.sanlock.'


def ansible_docs_url(target):
    if target in ANSIBLE_LABELS:
        return ANSIBLE_DOCS + ANSIBLE_LABELS[target]
    parts = target.split('.')
    # ansible_collections.<namespace>.<name>.<plugin>_<type> of another collection
    if len(parts) == 4 and parts[0] == 'ansible_collections' and not target.startswith(OWN_PREFIX):
        return ANSIBLE_DOCS + 'collections/%s/%s/%s.html' % tuple(parts[1:])
    return None


def resolve_ansible_docs_label(app, env, node, contnode):
    if node.get('refdomain') != 'std' or node.get('reftype') != 'ref':
        return None
    url = ansible_docs_url(node['reftarget'])
    if url is None:
        return None
    from docutils import nodes
    reference = nodes.reference('', '', internal=False, refuri=url)
    reference += contnode
    return reference


def setup(app):
    app.connect('missing-reference', resolve_ansible_docs_label)

/**
 * Dialogs that stay open until the server accepts what they send: the credentials dialog and
 * the "Add a space" form. A refusal is shown inside the dialog, in the server's words.
 */

import { Dialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import {
  askedSettings,
  IKindForm,
  INewSpace,
  ISpace,
  NameProblem,
  newSpace,
  SettingProblem,
  spaceLabel,
  validateName,
  validateSetting
} from './model';

/**
 * A form body: its inputs, and a line for the first problem or the server's message. An empty
 * required field is told only once the user typed in it or tried to send the form, as forms do.
 */
class FormBody extends Widget {
  constructor() {
    super({ node: document.createElement('form') });
    this.addClass('nbs-Form');
    this.node.setAttribute('novalidate', '');
    // The dialog handles Enter; a native submit would reload the page.
    this.node.addEventListener('submit', e => e.preventDefault());
    // The dialog checks the inputs before this (it listens while capturing): tell what it found.
    this.node.addEventListener('input', e => {
      this._touched.add(e.target as HTMLElement);
      this.validate?.();
      this.showProblem();
    });
    this.message = document.createElement('p');
    this.message.className = 'nbs-Form-message';
    this.message.setAttribute('role', 'alert');
    this.message.hidden = true;
  }

  addField(
    label: string,
    name: string,
    options: {
      type?: string;
      secret?: boolean;
      placeholder?: string;
      value?: string;
      hint?: string;
      parent?: HTMLElement;
    } = {}
  ): HTMLInputElement {
    const id = `nbs-field-${FormBody._ids++}`;
    const row = document.createElement('div');
    row.className = 'nbs-Form-row';
    const labelNode = document.createElement('label');
    labelNode.htmlFor = id;
    labelNode.textContent = label;
    const input = document.createElement('input');
    input.id = id;
    input.name = name;
    input.className = 'jp-mod-styled nbs-Form-input';
    input.type = options.secret ? 'password' : (options.type ?? 'text');
    input.required = true;
    input.spellcheck = false;
    input.autocomplete = options.secret ? 'new-password' : 'off';
    if (options.placeholder) {
      input.placeholder = options.placeholder;
    }
    if (options.value) {
      input.value = options.value;
    }
    row.append(labelNode, input);
    if (options.hint !== undefined) {
      const hint = document.createElement('div');
      hint.className = 'nbs-Form-hint';
      hint.id = `${id}-hint`;
      hint.textContent = options.hint;
      input.setAttribute('aria-describedby', hint.id);
      row.appendChild(hint);
    }
    (options.parent ?? this.node).appendChild(row);
    this.inputs.push(input);
    return input;
  }

  /** Drops the inputs under `parent` (the fields of another kind). */
  clearFields(parent: HTMLElement): void {
    for (const input of [...this.inputs]) {
      if (parent.contains(input)) {
        this.inputs.splice(this.inputs.indexOf(input), 1);
      }
    }
    parent.replaceChildren();
  }

  finish(): void {
    this.node.appendChild(this.message);
  }

  showError(text: string): void {
    this.message.textContent = text;
    this.message.hidden = !text;
  }

  /**
   * Shows the first problem the user should see: any, once they tried to send the form; before,
   * those of fields they typed in, and those other fields cause (partial credentials), but not
   * that a field they did not reach yet is empty.
   */
  showProblem(): void {
    const shown = this.inputs.find(
      i =>
        !i.validity.valid &&
        (this._tried || this._touched.has(i) || !i.validity.valueMissing)
    );
    this.showError(shown?.validationMessage ?? '');
  }

  /** The user tried to send the form: every problem may be told now. */
  tried(): void {
    this._tried = true;
    this.showProblem();
  }

  setBusy(busy: boolean): void {
    for (const input of this.inputs) {
      input.disabled = busy;
    }
    this.node.classList.toggle('nbs-mod-busy', busy);
  }

  values(): Record<string, string> {
    const values: Record<string, string> = {};
    for (const input of this.inputs) {
      values[input.name] = input.value;
    }
    return values;
  }

  /** Sets the inputs' validity; the dialog calls it on every input, before it checks them. */
  validate: (() => void) | null = null;
  readonly inputs: HTMLInputElement[] = [];
  readonly message: HTMLParagraphElement;
  private _touched = new Set<EventTarget>();
  private _tried = false;
  private static _ids = 0;
}

/**
 * A dialog whose accept button runs `submit` first: it closes only when `submit` resolves;
 * when it throws, the error is shown in the body and the dialog stays open.
 */
class SubmitDialog extends Dialog<Record<string, string>> {
  constructor(
    private _form: FormBody,
    private _submit: (values: Record<string, string>) => Promise<void>,
    options: Partial<Dialog.IOptions<Record<string, string>>>
  ) {
    super({ ...options, body: _form, focusNodeSelector: 'input' });
    this.addClass('nbs-Dialog');
    this._acceptIndex = (options.buttons ?? []).findIndex(b => b.accept);
  }

  /** The form's own checks first, so the dialog's accept button and Enter see the current validity. */
  protected _checkValidation(): void {
    this._form?.validate?.();
    super._checkValidation();
  }

  resolve(index?: number): void {
    const i = index ?? this._acceptIndex;
    if (i !== this._acceptIndex || this._accepted) {
      super.resolve(index);
      return;
    }
    if (this._busy) {
      return;
    }
    if (this.node.querySelector(':invalid')) {
      this._form.tried();
      this.node.querySelector<HTMLInputElement>('input:invalid')?.focus();
      return;
    }
    this._busy = true;
    const values = this._form.values();
    this._form.setBusy(true);
    this._form.showError('');
    const buttons = this.node.querySelectorAll<HTMLButtonElement>(
      '.jp-Dialog-footer button'
    );
    buttons.forEach(b => (b.disabled = true));
    this._submit(values).then(
      () => {
        this._accepted = true;
        this._checkValidation();
        super.resolve(i);
      },
      (error: unknown) => {
        this._busy = false;
        this._form.setBusy(false);
        buttons.forEach(b => (b.disabled = false));
        this._form.showError(
          error instanceof Error ? error.message : String(error)
        );
        // Secrets are typed again, never kept in the form after a refusal.
        for (const input of this._form.inputs) {
          if (input.type === 'password') {
            input.value = '';
          }
        }
        (
          this._form.inputs.find(x => x.type === 'password') ??
          this._form.inputs[0]
        )?.focus();
      }
    );
  }

  private _acceptIndex: number;
  private _busy = false;
  private _accepted = false;
}

/** A link to where a service makes app passwords, when we know one. */
function appPasswordLink(space: ISpace): string | null {
  const url = String(space.settings?.url ?? '');
  const label = spaceLabel(space);
  if (/b2drop/i.test(url) || /b2drop/i.test(label)) {
    return 'https://b2drop.eudat.eu/settings/user/security';
  }
  return null;
}

/**
 * Asks for exactly the space's credential fields and sends them; stays open with the server's
 * message when they are refused. Secret fields are password inputs and never pre-filled.
 * Resolves true when the credentials were accepted.
 */
export async function credentialsDialog(
  space: ISpace,
  trans: TranslationBundle,
  send: (values: Record<string, string>) => Promise<unknown>
): Promise<boolean> {
  const form = new FormBody();
  const label = spaceLabel(space);
  const intro = document.createElement('p');
  intro.className = 'nbs-Form-intro';
  intro.textContent = trans.__(
    'Give your credentials for %1. They are tested with %1 before they are stored, encrypted, in your home; they are never shown again.',
    label
  );
  form.node.appendChild(intro);
  if (space.has_credentials) {
    const stored = document.createElement('p');
    stored.className = 'nbs-Form-stored';
    stored.textContent = trans.__(
      'Credentials are stored for %1; the ones you give here replace them.',
      label
    );
    form.node.appendChild(stored);
  }
  if (space.reason && space.status !== 'mounted') {
    const reason = document.createElement('p');
    reason.className = 'nbs-Form-reason';
    reason.textContent = space.reason;
    form.node.appendChild(reason);
  }
  const link = appPasswordLink(space);
  for (const field of space.credential_fields) {
    const fieldLabel = /b2drop/i.test(label)
      ? appLabel(field.name, field.label, trans)
      : field.label;
    form.addField(fieldLabel, field.name, { secret: field.secret });
  }
  if (link) {
    const p = document.createElement('p');
    p.className = 'nbs-Form-hint';
    const a = document.createElement('a');
    a.href = link;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.textContent = trans.__(
      'Create an app password in B2DROP (Settings, Security)'
    );
    p.appendChild(a);
    form.node.appendChild(p);
  }
  form.finish();
  const dialog = new SubmitDialog(
    form,
    async values => void (await send(values)),
    {
      title: trans.__('Connect %1', label),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Connect') })
      ]
    }
  );
  const result = await dialog.launch();
  dialog.dispose();
  return result.button.accept;
}

function appLabel(
  name: string,
  label: string,
  trans: TranslationBundle
): string {
  if (name === 'username') {
    return trans.__('App user name');
  }
  if (name === 'password') {
    return trans.__('App password');
  }
  return label;
}

/** What the form says about a name the server would refuse. */
function nameMessage(problem: NameProblem, trans: TranslationBundle): string {
  switch (problem) {
    case 'empty':
      return trans.__('Please give a name.');
    case 'invalid':
      return trans.__(
        'Use letters, digits, ".", "_" and "-" only, at most 64, starting with a letter or digit.'
      );
    case 'reserved':
      return trans.__('This name is reserved; please choose another.');
    case 'taken':
      return trans.__('There is already a space or folder of that name.');
  }
}

/** What the form says about a setting the server would refuse. */
function settingMessage(
  problem: SettingProblem,
  label: string,
  trans: TranslationBundle
): string {
  switch (problem) {
    case 'empty':
      return trans.__('Please give the %1.', label);
    case 'credentials':
      return trans.__(
        'Leave the user name and password out of the address; give them below.'
      );
    case 'invalid':
      return trans.__('Give an http:// or https:// address.');
  }
}

/** The "Kind" choice, when there is more than one kind; calls `chosen` with the kind picked. */
function addKindChoice(
  form: FormBody,
  kinds: Readonly<Record<string, IKindForm>>,
  kind: string,
  trans: TranslationBundle,
  chosen: (kind: string) => void
): void {
  const row = document.createElement('div');
  row.className = 'nbs-Form-row';
  const label = document.createElement('label');
  label.htmlFor = 'nbs-add-kind';
  label.textContent = trans.__('Kind');
  const select = document.createElement('select');
  select.id = 'nbs-add-kind';
  select.name = 'kind';
  select.className = 'jp-mod-styled nbs-Form-input';
  for (const k of Object.keys(kinds)) {
    select.appendChild(new Option(kinds[k].label, k, k === kind, k === kind));
  }
  select.addEventListener('change', () => chosen(select.value));
  row.append(label, select);
  form.node.appendChild(row);
}

/** The fields of one kind under `parent`: its asked settings, then its credentials (optional). */
function addKindFields(
  form: FormBody,
  parent: HTMLElement,
  spec: IKindForm,
  trans: TranslationBundle
): void {
  form.clearFields(parent);
  for (const f of askedSettings(spec)) {
    const input = form.addField(f.label, `setting:${f.name}`, {
      type: f.type === 'url' ? 'url' : 'text',
      placeholder:
        f.type === 'url'
          ? trans.__('https://dav.example.org/remote.php/webdav')
          : '',
      parent,
      hint:
        f.name === 'label'
          ? trans.__(
              'Optional: the name shown in the panel and in messages; the space name when empty.'
            )
          : undefined
    });
    input.required = f.required;
    input.dataset.setting = f.name;
  }
  for (const c of spec.credential_fields) {
    const input = form.addField(c.label, `credential:${c.name}`, {
      secret: c.secret,
      parent
    });
    input.required = false;
    input.dataset.credential = c.name;
  }
}

/**
 * Sets each input's validity as the server would judge it: the name, the settings, and the
 * credentials (all or none).
 */
function checkAddForm(
  name: HTMLInputElement,
  fields: HTMLElement,
  spec: IKindForm,
  existing: readonly ISpace[],
  trans: TranslationBundle
): void {
  const n = validateName(name.value, existing);
  name.setCustomValidity(name.value && n ? nameMessage(n, trans) : '');
  const settings = fields.querySelectorAll<HTMLInputElement>(
    'input[data-setting]'
  );
  for (const input of Array.from(settings)) {
    const f = spec.setting_fields.find(x => x.name === input.dataset.setting);
    const problem = f ? validateSetting(f, input.value) : undefined;
    input.setCustomValidity(
      f && input.value && problem ? settingMessage(problem, f.label, trans) : ''
    );
  }
  const creds = Array.from(
    fields.querySelectorAll<HTMLInputElement>('input[data-credential]')
  );
  const given = creds.filter(i => i.value).length;
  const partial = given > 0 && given < creds.length;
  for (const input of creds) {
    input.setCustomValidity(
      partial && !input.value
        ? trans.__('Give all the credentials, or none (then give them later).')
        : ''
    );
  }
}

/**
 * The "Add a space" form for `kinds` (the model's `addableKinds`; not empty): a name, then the
 * settings it asks for (`askedSettings`) and the credentials the server lists for the chosen kind.
 * Credentials are optional: without them the space waits for them. Resolves true when the server
 * added the space.
 */
export async function addSpaceDialog(
  kinds: Readonly<Record<string, IKindForm>>,
  existing: readonly ISpace[],
  trans: TranslationBundle,
  send: (space: INewSpace) => Promise<unknown>
): Promise<boolean> {
  const form = new FormBody();
  const names = Object.keys(kinds);
  let kind = names.includes('webdav') ? 'webdav' : names[0];
  const fields = document.createElement('div');
  fields.className = 'nbs-Form-fields';
  if (names.length > 1) {
    addKindChoice(form, kinds, kind, trans, chosen => {
      kind = chosen;
      addKindFields(form, fields, kinds[kind], trans);
      form.validate?.();
      form.showProblem();
    });
  }
  const name = form.addField(trans.__('Name'), 'name', {
    placeholder: trans.__('mydav'),
    hint: trans.__(
      'Letters, digits, ".", "_" and "-"; it is also the folder in your home.'
    )
  });
  form.node.appendChild(fields);
  form.finish();
  addKindFields(form, fields, kinds[kind], trans);
  form.validate = () =>
    checkAddForm(name, fields, kinds[kind], existing, trans);
  form.validate();

  const dialog = new SubmitDialog(
    form,
    async values => void (await send(newSpace(kind, kinds[kind], values))),
    {
      title: trans.__('Add a space'),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Add') })
      ]
    }
  );
  const result = await dialog.launch();
  dialog.dispose();
  return result.button.accept;
}

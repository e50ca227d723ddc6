/**
 * Dialogs that stay open until the server accepts what they send: the credentials dialog and
 * the "Add a space" form. Every field is drawn from what the server declares (its type, help and
 * link), so no kind of space is named here. A refusal is shown inside the dialog, in the server's
 * words; a server not trusted yet (an SSH host key seen for the first time) is shown for the
 * user to trust or not, in the same dialog.
 */

import { Dialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import {
  ApiError,
  controlFor,
  fieldLink,
  FieldProblem,
  IField,
  IKindForm,
  INewSpace,
  ISpace,
  missingCredentials,
  NameProblem,
  newSpace,
  spaceLabel,
  validateField,
  validateName,
  withOffer
} from './model';

/** An input, text area or select of a form. */
type Control = HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;

/**
 * A form body: its controls, and a line for the first problem or the server's message. An empty
 * required field is told only once the user typed in it or tried to send the form, as forms do.
 */
class FormBody extends Widget {
  constructor(private _trans: TranslationBundle) {
    super({ node: document.createElement('form') });
    this.addClass('nbs-Form');
    this.node.setAttribute('novalidate', '');
    // The dialog handles Enter; a native submit would reload the page.
    this.node.addEventListener('submit', e => e.preventDefault());
    // The dialog checks the inputs before this (it listens while capturing): tell what it found.
    const changed = (e: Event) => {
      this._touched.add(e.target as HTMLElement);
      this.validate?.();
      this.showProblem();
    };
    this.node.addEventListener('input', changed);
    this.node.addEventListener('change', changed);
    this.message = document.createElement('p');
    this.message.className = 'nbs-Form-message';
    this.message.setAttribute('role', 'alert');
    this.message.hidden = true;
    this.trustNode = document.createElement('div');
    this.trustNode.className = 'nbs-Form-trust';
    this.trustNode.hidden = true;
  }

  /**
   * A row for one field, drawn from its type (`controlFor`): its label (marked when required),
   * its control, its help and the link to where the value is found. `name` is the form value's key.
   */
  addField(
    field: IField,
    name: string,
    options: { placeholder?: string; parent?: HTMLElement } = {}
  ): Control {
    const trans = this._trans;
    const id = `nbs-field-${FormBody._ids++}`;
    const spec = controlFor(field);
    const row = document.createElement('div');
    row.className = 'nbs-Form-row';
    const labelNode = document.createElement('label');
    labelNode.htmlFor = id;
    labelNode.textContent = field.label;
    if (field.required) {
      const mark = document.createElement('span');
      mark.className = 'nbs-Form-required';
      mark.textContent = '*';
      mark.title = trans.__('Required');
      mark.setAttribute('aria-hidden', 'true');
      labelNode.append(' ', mark);
    }
    let control: Control;
    if (spec.tag === 'select') {
      const select = document.createElement('select');
      for (const value of spec.options ?? []) {
        select.appendChild(
          new Option(value || trans.__('(the default)'), value)
        );
      }
      control = select;
    } else if (spec.tag === 'textarea') {
      const area = document.createElement('textarea');
      area.rows = 4;
      area.classList.add('nbs-Form-secret');
      area.autocapitalize = 'off';
      area.wrap = 'off';
      control = area;
    } else {
      const input = document.createElement('input');
      input.type = spec.type ?? 'text';
      if (spec.min !== undefined) {
        input.min = String(spec.min);
      }
      if (spec.max !== undefined) {
        input.max = String(spec.max);
      }
      if (input.type === 'checkbox') {
        if (typeof field.default === 'boolean') {
          // The driver's default, shown as it is; sent only once the user changes it.
          input.checked = field.default;
          input.dataset.default = String(field.default);
        } else {
          // Unset until the user chooses: the server's default applies (it is not sent).
          input.indeterminate = true;
          input.title = trans.__("The server's default until you choose");
        }
      } else if (
        field.default !== null &&
        field.default !== undefined &&
        !options.placeholder
      ) {
        input.placeholder = String(field.default);
      }
      control = input;
    }
    control.id = id;
    control.name = name;
    control.classList.add('jp-mod-styled', 'nbs-Form-input');
    control.required = field.required;
    control.autocomplete = spec.autocomplete;
    if (field.secret) {
      control.dataset.secret = 'true';
    }
    if (!(control instanceof HTMLSelectElement)) {
      control.spellcheck = false;
      if (options.placeholder) {
        control.placeholder = options.placeholder;
      }
    }
    if (control instanceof HTMLInputElement && control.type === 'checkbox') {
      row.classList.add('nbs-mod-checkbox');
      row.append(control, labelNode);
    } else {
      row.append(labelNode, control);
    }
    const link = fieldLink(field);
    if (field.help || link) {
      const hint = document.createElement('div');
      hint.className = 'nbs-Form-hint';
      hint.id = `${id}-hint`;
      hint.textContent = field.help;
      if (link) {
        const a = document.createElement('a');
        a.href = link;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        a.textContent = trans.__('Where do I get this?');
        hint.append(field.help ? ' ' : '', a);
      }
      control.setAttribute('aria-describedby', hint.id);
      row.appendChild(hint);
    }
    (options.parent ?? this.node).appendChild(row);
    this.controls.push(control);
    return control;
  }

  /** Drops the controls under `parent` (the fields of another kind). */
  clearFields(parent: HTMLElement): void {
    for (const control of [...this.controls]) {
      if (parent.contains(control)) {
        this.controls.splice(this.controls.indexOf(control), 1);
      }
    }
    parent.replaceChildren();
  }

  finish(): void {
    this.node.append(this.message, this.trustNode);
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
    const shown = this.controls.find(
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

  /** While the server answers, nothing in the form changes: the fields, the kind, the choices. */
  setBusy(busy: boolean): void {
    const all = this.node.querySelectorAll<Control>('input, textarea, select');
    for (const control of Array.from(all)) {
      control.disabled = busy;
    }
    this.node.classList.toggle('nbs-mod-busy', busy);
  }

  /** The form's values by name: text as typed, "true"/"false" for a checkbox, '' for one left unset
   * or at its default. */
  values(): Record<string, string> {
    const values: Record<string, string> = {};
    for (const control of this.controls) {
      values[control.name] =
        control instanceof HTMLInputElement && control.type === 'checkbox'
          ? control.indeterminate ||
            control.dataset.default === String(control.checked)
            ? ''
            : String(control.checked)
          : control.value;
    }
    return values;
  }

  /** Secrets are typed again, never kept in the form after a refusal. */
  clearSecrets(): void {
    for (const control of this.controls) {
      if (control.dataset.secret) {
        control.value = '';
      }
    }
  }

  /**
   * Shows the server's question instead of the fields (`message`: what to check, e.g. a host
   * key's fingerprint), or the fields again (null).
   */
  showTrust(message: string | null): void {
    this.node.classList.toggle('nbs-mod-trust', message !== null);
    this.trustNode.hidden = message === null;
    if (message === null) {
      this.trustNode.replaceChildren();
      return;
    }
    const text = document.createElement('p');
    text.className = 'nbs-Form-trustMessage';
    text.textContent = message;
    const hint = document.createElement('p');
    hint.className = 'nbs-Form-hint';
    hint.textContent = this._trans.__(
      'Cancel changes nothing: nothing is trusted, added or stored.'
    );
    this.trustNode.replaceChildren(text, hint);
  }

  /** Sets the controls' validity; the dialog calls it on every input, before it checks them. */
  validate: (() => void) | null = null;
  readonly controls: Control[] = [];
  readonly message: HTMLParagraphElement;
  readonly trustNode: HTMLDivElement;
  private _touched = new Set<EventTarget>();
  private _tried = false;
  private static _ids = 0;
}

/**
 * Sends the form's values; when the server is not trusted yet (an `ApiError` with an `offer`),
 * `trust` is what to do once the user trusts it: accept the offer, then send again.
 */
interface ISubmit {
  send(values: Record<string, string>): Promise<unknown>;
  trust(
    offer: Record<string, string>,
    values: Record<string, string>
  ): Promise<unknown>;
}

/**
 * A dialog whose accept button runs `submit` first: it closes only when the server accepted;
 * when it refuses, the error is shown in the body and the dialog stays open. A server not trusted
 * yet turns the dialog into the question: the server's message, "Trust this server" and "Cancel".
 */
class SubmitDialog extends Dialog<Record<string, string>> {
  constructor(
    private _form: FormBody,
    private _submit: ISubmit,
    private _trans: TranslationBundle,
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
    const offered = this._offered;
    if (!offered && this.node.querySelector(':invalid')) {
      this._form.tried();
      this.node.querySelector<HTMLElement>('.nbs-Form-input:invalid')?.focus();
      return;
    }
    const values = offered ? offered.values : this._form.values();
    this._run(
      values,
      offered
        ? this._submit.trust(offered.offer, values)
        : this._submit.send(values)
    );
  }

  private _run(values: Record<string, string>, sent: Promise<unknown>): void {
    this._busy = true;
    this._form.setBusy(true);
    this._form.showError('');
    const buttons = this._footerButtons();
    buttons.forEach(b => (b.disabled = true));
    sent.then(
      () => {
        this._accepted = true;
        this._checkValidation();
        super.resolve(this._acceptIndex);
      },
      (error: unknown) => {
        this._busy = false;
        this._form.setBusy(false);
        buttons.forEach(b => (b.disabled = false));
        if (error instanceof ApiError && error.offer) {
          this._ask(error.message, error.offer, values);
          return;
        }
        this._ask(null);
        this._form.showError(
          error instanceof Error ? error.message : String(error)
        );
        this._form.clearSecrets();
        (
          this._form.controls.find(x => x.dataset.secret) ??
          this._form.controls[0]
        )?.focus();
      }
    );
  }

  /**
   * Asks whether to trust the server (its `message` says what to check), or goes back to the
   * fields (null). The values wait in memory for the answer, never in the page.
   */
  private _ask(
    message: string | null,
    offer?: Record<string, string>,
    values?: Record<string, string>
  ): void {
    this._offered =
      message !== null && offer && values ? { offer, values } : null;
    this._form.showTrust(message);
    const accept = this._footerButtons()[this._acceptIndex];
    const label = accept?.querySelector('.jp-Dialog-buttonLabel');
    if (label) {
      this._label ??= label.textContent ?? '';
      label.textContent =
        message === null ? this._label : this._trans.__('Trust this server');
    }
    if (message !== null) {
      // Cancel has the focus: a reflex Enter trusts nothing.
      this._footerButtons()
        .find((_, j) => j !== this._acceptIndex)
        ?.focus();
    }
  }

  private _footerButtons(): HTMLButtonElement[] {
    return Array.from(
      this.node.querySelectorAll<HTMLButtonElement>('.jp-Dialog-footer button')
    );
  }

  private _acceptIndex: number;
  private _busy = false;
  private _accepted = false;
  private _offered: {
    offer: Record<string, string>;
    values: Record<string, string>;
  } | null = null;
  private _label: string | null = null;
}

/**
 * Asks for exactly the space's credential fields, as the server declares them (a service's
 * app password with the link to where one is made), and sends them; stays open with the
 * server's message when they are refused. Secrets are never pre-filled. A server not trusted
 * yet is shown to be trusted (`accept`), then the credentials are sent again. Resolves true
 * when the credentials were accepted.
 */
export async function credentialsDialog(
  space: ISpace,
  trans: TranslationBundle,
  send: (values: Record<string, string>, remember: boolean) => Promise<unknown>,
  accept: (offer: Record<string, string>) => Promise<unknown>
): Promise<boolean> {
  const form = new FormBody(trans);
  const label = spaceLabel(space);
  const intro = document.createElement('p');
  intro.className = 'nbs-Form-intro';
  intro.textContent = trans.__(
    'Give your credentials for %1. They are tested with %1 first, and never shown again.',
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
  for (const field of space.credential_fields) {
    form.addField(field, field.name);
  }
  const remember = rememberChoice(form, trans);
  form.finish();
  const dialog = new SubmitDialog(
    form,
    {
      send: values => send(values, remember.checked),
      trust: async (offer, values) => {
        await accept(offer);
        await send(values, remember.checked);
      }
    },
    trans,
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

/**
 * "Remember them", checked at first: credentials stored encrypted for the next starts, or used
 * only until the server stops (a share's password typed at each mount). Not a credential: it is
 * never sent among them.
 */
function rememberChoice(
  form: FormBody,
  trans: TranslationBundle
): HTMLInputElement {
  const row = document.createElement('div');
  row.className = 'nbs-Form-row nbs-mod-checkbox';
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.id = 'nbs-remember';
  box.name = 'remember';
  box.className = 'nbs-Form-remember';
  box.checked = true;
  const label = document.createElement('label');
  label.htmlFor = box.id;
  label.textContent = trans.__('Remember them');
  const hint = document.createElement('div');
  hint.className = 'nbs-Form-hint';
  hint.id = 'nbs-remember-hint';
  hint.textContent = trans.__(
    'Stored encrypted in your home for the next starts. Unchecked: used until your server stops, then asked again.'
  );
  box.setAttribute('aria-describedby', hint.id);
  row.append(box, label, hint);
  form.node.appendChild(row);
  return box;
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

/** What the form says about a value of a field the server would refuse. */
function fieldMessage(
  problem: FieldProblem,
  field: IField,
  trans: TranslationBundle
): string {
  switch (problem) {
    case 'empty':
      return trans.__('Please give the %1.', field.label);
    case 'credentials':
      return trans.__(
        'Leave the user name and password out of the address; give them below.'
      );
    case 'invalid':
      return trans.__('Give an http:// or https:// address.');
    case 'integer':
      return trans.__('%1: give a whole number.', field.label);
    case 'range': {
      const { minimum, maximum } = field;
      if (typeof minimum === 'number' && typeof maximum === 'number') {
        return trans.__(
          '%1: give a number from %2 to %3.',
          field.label,
          minimum,
          maximum
        );
      }
      return typeof minimum === 'number'
        ? trans.__('%1: give at least %2.', field.label, minimum)
        : trans.__('%1: give at most %2.', field.label, maximum ?? '');
    }
    case 'choice':
      return trans.__(
        '%1: choose one of %2.',
        field.label,
        (field.choices ?? []).join(', ')
      );
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

/**
 * The fields of one kind under `parent`: its settings, then its credentials. Credentials are not
 * required here (without them the space waits for them); `checkAddForm` asks for the required
 * ones once one is given.
 */
function addKindFields(
  form: FormBody,
  parent: HTMLElement,
  spec: IKindForm
): void {
  form.clearFields(parent);
  for (const f of spec.setting_fields) {
    form.addField(f, `setting:${f.name}`, { parent }).dataset.setting = f.name;
  }
  for (const c of spec.credential_fields) {
    const control = form.addField(c, `credential:${c.name}`, { parent });
    control.required = false;
    control.dataset.credential = c.name;
  }
}

/**
 * Sets each control's validity as the server would judge it: the name, the settings, and the
 * credentials (the required ones, or none).
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
  const controls = Array.from(
    fields.querySelectorAll<Control>('.nbs-Form-input')
  );
  for (const control of controls.filter(c => c.dataset.setting)) {
    const f = spec.setting_fields.find(x => x.name === control.dataset.setting);
    const problem = f ? validateField(f, control.value) : undefined;
    control.setCustomValidity(
      f && control.value && problem ? fieldMessage(problem, f, trans) : ''
    );
  }
  const creds = controls.filter(c => c.dataset.credential);
  const missing = missingCredentials(
    spec.credential_fields,
    Object.fromEntries(creds.map(c => [c.dataset.credential, c.value]))
  );
  for (const control of creds) {
    control.setCustomValidity(
      missing.includes(control.dataset.credential ?? '')
        ? trans.__(
            'Give the required credentials too, or none (then give them later).'
          )
        : ''
    );
  }
}

/**
 * The "Add a space" form for `kinds` (the model's `addableKinds`, in the order of `user_kinds`;
 * not empty): the kind (the first by default), a name, then the settings and credentials the
 * server declares for it. Credentials are optional: without them the space waits for them. A
 * server not trusted yet is shown to be trusted; the space is then sent again with what it
 * offered in its settings. Resolves true when the server added the space.
 */
export async function addSpaceDialog(
  kinds: Readonly<Record<string, IKindForm>>,
  existing: readonly ISpace[],
  trans: TranslationBundle,
  send: (space: INewSpace) => Promise<unknown>
): Promise<boolean> {
  const form = new FormBody(trans);
  const names = Object.keys(kinds);
  let kind = names[0];
  const fields = document.createElement('div');
  fields.className = 'nbs-Form-fields';
  if (names.length > 1) {
    addKindChoice(form, kinds, kind, trans, chosen => {
      kind = chosen;
      addKindFields(form, fields, kinds[kind]);
      form.validate?.();
      form.showProblem();
    });
  }
  const name = form.addField(
    {
      name: 'name',
      label: trans.__('Name'),
      type: 'string',
      required: true,
      secret: false,
      help: trans.__(
        'Letters, digits, ".", "_" and "-"; it is also the folder in your home.'
      ),
      link: ''
    },
    'name',
    { placeholder: trans.__('myspace') }
  ) as HTMLInputElement;
  form.node.appendChild(fields);
  form.finish();
  addKindFields(form, fields, kinds[kind]);
  form.validate = () =>
    checkAddForm(name, fields, kinds[kind], existing, trans);
  form.validate();

  const dialog = new SubmitDialog(
    form,
    {
      send: values => send(newSpace(kind, kinds[kind], values)),
      trust: (offer, values) =>
        send(withOffer(newSpace(kind, kinds[kind], values), offer))
    },
    trans,
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
